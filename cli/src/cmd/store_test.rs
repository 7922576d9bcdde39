//! Tests of `micro store` argument handling and request building (no server needed).

use super::*;
use clap::Parser;

#[derive(Debug, Parser)]
struct Harness {
    #[command(subcommand)]
    command: StoreCommand,
}

fn parse(args: &[&str]) -> StoreCommand {
    Harness::try_parse_from(std::iter::once("store").chain(args.iter().copied()))
        .unwrap()
        .command
}

#[test]
fn read_defaults_to_namespace_database_and_micro_table() {
    let StoreCommand::Read(a) = parse(&["read", "k"]) else {
        panic!()
    };
    let req = read_request(&a, "ns1").unwrap();
    let o = req.options.unwrap();
    assert_eq!(
        (req.key.as_str(), o.database.as_str(), o.table.as_str()),
        ("k", "ns1", "micro")
    );
    assert_eq!(
        (o.limit, o.offset, o.order.as_str(), o.prefix, o.stale),
        (0, 0, "", false, false)
    );
}

#[test]
fn read_flags_map_to_options_and_offset_is_an_offset() {
    let StoreCommand::Read(a) = parse(&[
        "read", "-p", "-l", "5", "-o", "2", "--order", "desc", "-d", "db", "-t", "tb", "--stale",
        "-v", "--output", "json", "pre",
    ]) else {
        panic!()
    };
    assert!(a.verbose);
    assert_eq!(a.output, Output::Json);
    let req = read_request(&a, "ns").unwrap();
    let o = req.options.unwrap();
    assert_eq!(req.key, "pre");
    assert!(o.prefix && !o.suffix && o.stale);
    assert_eq!((o.limit, o.offset), (5, 2));
    assert_eq!(
        (o.order.as_str(), o.database.as_str(), o.table.as_str()),
        ("desc", "db", "tb")
    );
}

#[test]
fn missing_arguments_use_micro_messages() {
    let StoreCommand::Read(a) = parse(&["read"]) else {
        panic!()
    };
    assert_eq!(
        read_request(&a, "m").unwrap_err().to_string(),
        "Key arg is required"
    );
    let StoreCommand::Write(a) = parse(&["write", "k"]) else {
        panic!()
    };
    assert_eq!(
        write_request(&a, "m").unwrap_err().to_string(),
        "Key and Value args are required"
    );
    let StoreCommand::Write(a) = parse(&["write"]) else {
        panic!()
    };
    assert!(write_request(&a, "m").is_err());
    let StoreCommand::Delete(a) = parse(&["delete"]) else {
        panic!()
    };
    assert_eq!(
        delete_request(&a, "m").unwrap_err().to_string(),
        "key is required"
    );
}

#[test]
fn write_joins_value_words_and_rounds_expiry_up() {
    let StoreCommand::Write(a) =
        parse(&["write", "--expiry", "1500ms", "k", "hello", "big", "world"])
    else {
        panic!()
    };
    let req = write_request(&a, "m").unwrap();
    let r = req.record.unwrap();
    assert_eq!(
        (r.key.as_str(), r.value.as_slice(), r.expiry),
        ("k", &b"hello big world"[..], 2)
    );
    assert!(req.options.unwrap().precondition.is_none());

    let StoreCommand::Write(a) = parse(&["write", "-e", "10s", "k", "-1"]) else {
        panic!()
    };
    let r = write_request(&a, "m").unwrap().record.unwrap();
    assert_eq!((r.value.as_slice(), r.expiry), (&b"-1"[..], 10));

    let StoreCommand::Write(a) = parse(&["write", "-e", "0s", "k", "v"]) else {
        panic!()
    };
    assert!(write_request(&a, "m").is_err());
    let bad = Harness::try_parse_from(["store", "write", "-e", "soon", "k", "v"]);
    assert!(bad.is_err());
}

#[test]
fn preconditions() {
    let StoreCommand::Write(a) = parse(&["write", "--if-absent", "k", "v"]) else {
        panic!()
    };
    let p = write_request(&a, "m")
        .unwrap()
        .options
        .unwrap()
        .precondition
        .unwrap();
    assert_eq!(p.condition, Some(precondition::Condition::Absent(true)));
    let StoreCommand::Delete(a) = parse(&["delete", "--if-revision", "7", "k"]) else {
        panic!()
    };
    let p = delete_request(&a, "m")
        .unwrap()
        .options
        .unwrap()
        .precondition
        .unwrap();
    assert_eq!(p.condition, Some(precondition::Condition::Revision(7)));
    let both =
        Harness::try_parse_from(["store", "write", "--if-absent", "--if-revision", "1", "k"]);
    assert!(both.is_err());
}

#[test]
fn unknown_subcommand_is_captured() {
    let StoreCommand::Unknown(words) = parse(&["frobnicate", "x"]) else {
        panic!()
    };
    assert_eq!(words, ["frobnicate", "x"]);
    assert_eq!(
        unknown_subcommand("store", &words),
        "Unrecognized subcommand for micro store: frobnicate. Please refer to 'micro store --help'"
    );
}

#[test]
fn flags_after_the_value_are_flags_and_dashes_need_a_separator() {
    let StoreCommand::Write(a) = parse(&["write", "k", "v", "--expiry", "10s"]) else {
        panic!()
    };
    assert_eq!(
        (a.value.as_slice(), a.expiry),
        (&["v".to_owned()][..], Some(Duration::from_secs(10)))
    );
    let StoreCommand::Write(a) = parse(&["write", "k", "--", "--x", "-y"]) else {
        panic!()
    };
    assert_eq!(a.value, ["--x", "-y"]);
    assert!(Harness::try_parse_from(["store", "write", "k", "-x"]).is_err());
}
