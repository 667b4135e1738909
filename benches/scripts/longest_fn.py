#!/usr/bin/env python3
"""The longest functions under a source folder, by counting lines from `fn` to its closing brace
(test modules after `#[cfg(test)]` are skipped). A rough count, for reading the code's shape:
`benches/scripts/longest_fn.py src` prints the five longest as (lines, file, name)."""
import re,sys,os
root=sys.argv[1]
res=[]
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f); lines=open(p).read().split('\n')
        intest=False
        i=0
        while i<len(lines):
            l=lines[i]
            if re.match(r'\s*#\[cfg\(test\)\]',l): break
            m=re.match(r'\s*(pub(\([^)]*\))?\s+)?(async\s+)?fn\s+(\w+)',l)
            if m:
                depth=0; started=False; j=i
                while j<len(lines):
                    # Braces in strings, char literals and comments do not count.
                    code = re.sub(r'//.*$', '', lines[j])
                    code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
                    code = re.sub(r"'(\\.|[^'\\])'", "''", code)
                    for ch in code:
                        if ch=='{': depth+=1; started=True
                        elif ch=='}': depth-=1
                    if started and depth==0: break
                    if not started and lines[j].rstrip().endswith(';'): break
                    j+=1
                if started: res.append((j-i+1, os.path.relpath(p,root), m.group(4)))
                i=j+1 if started else i+1
            else: i+=1
res.sort(reverse=True)
for r in res[:5]: print(r)
