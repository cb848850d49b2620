use super::*;

fn read(text: &str) -> Result<Vec<SourceRecord>, ZoneError> {
    read_master_text(text, Path::new("z"), &Name::from_ascii("ex.").unwrap())
        .map(|(records, _)| records)
}

/// "owner ttl type" and the RDATA's wire bytes of each record.
fn summary(text: &str) -> Vec<(String, u32, String, Vec<u8>)> {
    read(text)
        .unwrap()
        .into_iter()
        .map(|r| {
            let mut wire = Vec::new();
            let mut encoder = hickory_proto::serialize::binary::BinEncoder::new(&mut wire);
            hickory_proto::serialize::binary::BinEncodable::emit(&r.record.data, &mut encoder)
                .unwrap();
            (
                r.record.name.to_string(),
                r.record.ttl,
                r.record.record_type().to_string(),
                wire,
            )
        })
        .collect()
}

fn ttls(text: &str) -> Vec<(String, u32)> {
    summary(text)
        .into_iter()
        .map(|(n, t, _, _)| (n, t))
        .collect()
}

#[test]
fn ttls_as_bind_gives_them_without_ttl_directive() {
    // The SOA has none: its MINIMUM serves every record without one.
    let got = ttls("@ SOA ns h 1 2 3 4 500\n@ NS ns\nns 100 A 192.0.2.1\nx TXT a\n");
    assert_eq!(
        got,
        [
            ("ex.".into(), 500),
            ("ex.".into(), 500),
            ("ns.ex.".into(), 100),
            ("x.ex.".into(), 500)
        ]
    );
    // The SOA has one: each record without takes the last one written.
    let got = ttls("@ 900 SOA ns h 1 2 3 4 500\n@ NS ns\nns 100 A 192.0.2.1\nx TXT a\n");
    assert_eq!(
        got,
        [
            ("ex.".into(), 900),
            ("ex.".into(), 900),
            ("ns.ex.".into(), 100),
            ("x.ex.".into(), 100)
        ]
    );
    // $TTL wins over the last one written.
    let got = ttls("@ SOA ns h 1 2 3 4 500\n$TTL 42\nz A 1.2.3.4\ny 9 A 1.2.3.4\nw A 1.2.3.4\n");
    assert_eq!(
        got[1..],
        [
            ("z.ex.".into(), 42),
            ("y.ex.".into(), 9),
            ("w.ex.".into(), 42)
        ]
    );
    // Where BIND knows none, NSD's 3600.
    assert_eq!(ttls("ns A 192.0.2.1\n")[0].1, 3600);
    // TTL and class in either order, with units.
    assert_eq!(
        ttls("a IN 1h A 192.0.2.1\nb 1d IN A 192.0.2.1\n"),
        [("a.ex.".into(), 3600), ("b.ex.".into(), 86400)]
    );
}

#[test]
fn a_dkim_key_over_several_lines_is_one_txt_record_as_written() {
    let got = summary(
        "$TTL 300\nsel._domainkey TXT ( \"v=DKIM1; k=rsa; \" ; the key\n    \"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC\\\"x\\\"\" )\n",
    );
    assert_eq!(got.len(), 1);
    let mut want = vec![16];
    want.extend_from_slice(b"v=DKIM1; k=rsa; ");
    let second = b"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC\"x\"";
    want.push(second.len() as u8);
    want.extend_from_slice(second);
    assert_eq!(got[0].3, want);
}

#[test]
fn escapes_generic_data_relative_targets_and_at() {
    let got = summary(concat!(
        "$TTL 300\n",
        "x TXT x\\065y\n",
        "g TXT \\# 6 0568656c6c6f\n",
        "s SVCB 1 target\n",
        "w CNAME @\n",
        "m MX 10 @\n",
    ));
    assert_eq!(got[0].3, b"\x03xAy");
    assert_eq!(got[1].3, b"\x05hello");
    assert_eq!(got[2].3, b"\x00\x01\x06target\x02ex\x00");
    assert_eq!(got[3].2, "CNAME");
    assert_eq!(got[3].3, b"\x02ex\x00");
    assert_eq!(got[4].3, b"\x00\x0a\x02ex\x00");
}

#[test]
fn every_error_is_listed_with_its_line_and_record() {
    let err = read("$TTL 300\na A 192.0.2.1 192.0.2.2\nb MX 10\nc A 192.0.2.3\nd BOGUS x\n)\n")
        .unwrap_err();
    let lines: Vec<(Option<usize>, &str)> = std::iter::once(&err)
        .chain(&err.also)
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(err.count(), 4, "{err}");
    assert_eq!(lines[0].0, Some(2));
    assert!(
        lines[0]
            .1
            .contains("surplus data after the RDATA: 192.0.2.2, in \"a A 192.0.2.1 192.0.2.2\"")
    );
    assert_eq!(lines[1], (Some(3), "name is missing, in \"b MX 10\""));
    assert_eq!(lines[2], (Some(5), "unknown type BOGUS, in \"d BOGUS x\""));
    assert_eq!(lines[3], (Some(6), "')' without a matching '('"));
    assert_eq!(err.to_string().lines().count(), 4);
}

#[test]
fn generate_as_bind_does() {
    let got = summary(
        "$TTL 300\n$GENERATE 1-3 host$ A 10.0.0.$\n$GENERATE 0-4/2 ${10,3}.rev PTR host${0,2,x}.ex.\n",
    );
    let owners: Vec<&str> = got.iter().map(|(n, _, _, _)| n.as_str()).collect();
    assert_eq!(
        owners,
        [
            "host1.ex.",
            "host2.ex.",
            "host3.ex.",
            "010.rev.ex.",
            "012.rev.ex.",
            "014.rev.ex."
        ]
    );
    assert_eq!(got[2].3, [10, 0, 0, 3]);
    assert_eq!(got[5].3, b"\x06host04\x02ex\x00");
    let err = read("$GENERATE 1-2 h$ A 10.0.0.$$\n").unwrap_err();
    assert!(err.message.contains("$GENERATE makes"), "{err}");
}

#[test]
fn includes_take_an_origin_and_look_beside_the_file_then_in_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("part"), "www A 192.0.2.1\n").unwrap();
    std::fs::write(dir.path().join("shared"), "mail A 192.0.2.2\n").unwrap();
    let main = sub.join("main.zone");
    std::fs::write(
        &main,
        "$TTL 300\n$INCLUDE part inner.ex.\n$INCLUDE shared\nafter A 192.0.2.3\n",
    )
    .unwrap();
    let (records, _findings) =
        read_master_file(&main, &Name::from_ascii("ex.").unwrap(), Some(dir.path())).unwrap();
    let owners: Vec<String> = records.iter().map(|r| r.record.name.to_string()).collect();
    assert_eq!(owners, ["www.inner.ex.", "mail.ex.", "after.ex."]);
    let err = read_master_file(&main, &Name::from_ascii("ex.").unwrap(), None).unwrap_err();
    assert_eq!(err.line, Some(3));
    assert!(err.message.contains("does not exist"), "{err}");
}

#[test]
fn only_class_in() {
    assert!(read("$TTL 1\na CLASS1 A 192.0.2.1\n").is_ok());
    let err = read("$TTL 1\na CH TXT x\n").unwrap_err();
    assert!(err.message.contains("class CH is not served"), "{err}");
}
