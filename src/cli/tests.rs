//! The command line's tests: what each option becomes in the config or the request.

use super::*;

fn share_config(args: &[&str]) -> Config {
    let mut argv = vec!["npair", "share", "--host-key", "/dev/null"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Share(a) => a.into_config().unwrap(),
        _ => unreachable!(),
    }
}

#[test]
fn with_authorized_keys_the_web_viewer_is_off_unless_asked_for() {
    let plain = share_config(&[]);
    assert_eq!(plain.web, Some(DEFAULT_WEB));
    assert_eq!(plain.web_off, None);
    let keys = share_config(&["--authorized-keys", "guests.keys"]);
    assert_eq!(keys.web, None);
    assert!(keys.web_off.unwrap().contains("--authorized-keys"));
    let asked = share_config(&["--authorized-keys", "k", "--web", "127.0.0.1:9000"]);
    assert_eq!(asked.web, Some("127.0.0.1:9000".parse().unwrap()));
    assert_eq!(asked.web_off, None);
    assert_eq!(share_config(&["--no-web"]).web, None);
    assert_eq!(share_config(&["--no-web"]).web_off, None);
}

#[test]
fn a_size_policy_is_parsed_by_npair_so_a_bad_one_exits_1_with_its_message() {
    let request = |args: &[&str]| {
        let mut argv = vec!["npair", "size-policy"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().command.into_request()
    };
    let (session, req, _) = request(&["fun", "host"]).unwrap().unwrap();
    assert_eq!(session.as_deref(), Some("fun"));
    assert_eq!(
        req,
        Request::SizePolicy {
            policy: Policy::Host
        }
    );
    let (session, req, _) = request(&["100x30"]).unwrap().unwrap();
    assert_eq!(session, None);
    let fixed = Policy::Fixed(Size::new(100, 30));
    assert_eq!(req, Request::SizePolicy { policy: fixed });
    let err = request(&["5x5"]).unwrap_err().to_string();
    assert!(
        err.contains("'5x5'") && err.contains("smallest, host"),
        "{err}"
    );

    assert_eq!(share_config(&[]).size_policy, Policy::Smallest);
    assert_eq!(
        share_config(&["--size-policy", "100x30"]).size_policy,
        fixed
    );
    let mut argv = vec!["npair", "share", "--host-key", "/dev/null"];
    argv.extend(["--size-policy", "huge"]);
    let Command::Share(a) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let err = a.into_config().unwrap_err().to_string();
    assert!(
        err.contains("'huge'") && err.contains("smallest, host"),
        "{err}"
    );
}

#[test]
fn durations_take_units_and_refuse_the_rest() {
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    for bad in ["", "30", "h", "0s", "2x", "8d", "99999999999999999999s"] {
        let e = parse_duration(bad).unwrap_err();
        assert!(e.contains(&format!("'{bad}'")), "{e}");
    }
}

#[test]
fn the_cli_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
