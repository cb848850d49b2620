//! RDATA against the bytes BIND's named-checkzone and ldns-read-zone make
//! of the same text (generated once from their output; see the table).

use super::{encode, types};
use crate::zone::token::Lexer;

const ORIGIN: &[u8] = b"\x07example\x00";

/// (type, RDATA as written, wire form as `named-checkzone -D` then
/// `ldns-read-zone -U SOA` print it in RFC 3597 form).
const REFERENCE: &[(&str, &str, &str)] = &[
    ("A", "192.0.2.1", "c0000201"),
    ("AAAA", "2001:db8::1", "20010db8000000000000000000000001"),
    (
        "TXT",
        "\"a b\" c \"x\\065y\" \"semi;colon\" \"q\\\"uote\"",
        "036120620163037841790a73656d693b636f6c6f6e067122756f7465",
    ),
    (
        "TXT",
        "( \"v=DKIM1; k=rsa; \"\n   \"p=MIGfMA0\" )",
        "10763d444b494d313b206b3d7273613b2009703d4d4947664d4130",
    ),
    ("MX", "10 mail", "000a046d61696c076578616d706c6500"),
    (
        "SRV",
        "1 2 443 target",
        "0001000201bb06746172676574076578616d706c6500",
    ),
    (
        "NAPTR",
        "100 10 \"S\" \"SIP+D2U\" \"!^.*$!sip:info@example!\" _sip._udp",
        "0064000a0153075349502b44325517215e2e2a24217369703a696e666f406578616d706c6521045f736970045f756470076578616d706c6500",
    ),
    ("HINFO", "\"PC\" \"Linux\"", "025043054c696e7578"),
    (
        "RP",
        "mbox.example. txt.example.",
        "046d626f78076578616d706c650003747874076578616d706c6500",
    ),
    ("AFSDB", "1 afs", "000103616673076578616d706c6500"),
    (
        "CAA",
        "0 issue \"ca.example.net; account=1\"",
        "0005697373756563612e6578616d706c652e6e65743b206163636f756e743d31",
    ),
    (
        "CAA",
        "128 iodef \"mailto:sec@example\"",
        "8005696f6465666d61696c746f3a736563406578616d706c65",
    ),
    (
        "DS",
        "12345 RSASHA256 1 0123456789ABCDEF0123456789ABCDEF01234567",
        "303908010123456789abcdef0123456789abcdef01234567",
    ),
    (
        "DNSKEY",
        "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==",
        "0101030d99db2cc14cabdc33d6d77da63a2f15f71112584f234e8d1dc428e39e8a4a97e1aa271a555dc90701e17e2a4c4b6f120b7c32d44f4ac02bd894cf2d4be7778a19",
    ),
    (
        "SSHFP",
        "1 1 dd465c09cfa51fb45020cc83316fff21b9ec74ac",
        "0101dd465c09cfa51fb45020cc83316fff21b9ec74ac",
    ),
    (
        "TLSA",
        "3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
        "030101d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
    ),
    (
        "NSEC",
        "next.example. A MX RRSIG NSEC TYPE1234",
        "046e657874076578616d706c65000006400100000003041b000000000000000000000000000000000000000000000000000020",
    ),
    ("NSEC3PARAM", "1 0 10 aabbccdd", "0100000a04aabbccdd"),
    ("NSEC3PARAM", "1 0 0 -", "0100000000"),
    (
        "HTTPS",
        "1 . port=8443 alpn=h2,h3 ipv4hint=192.0.2.1,192.0.2.2 mandatory=alpn,port",
        "0001000000000400010003000100060268320268330003000220fb00040008c0000201c0000202",
    ),
    (
        "SVCB",
        "0 target.example.",
        "000006746172676574076578616d706c6500",
    ),
    (
        "SVCB",
        "2 . key65000=\"x\\,y\" no-default-alpn alpn=\"h2\"",
        "0002000001000302683200020000fde80003782c79",
    ),
    (
        "URI",
        "10 1 \"https://www.example/path\"",
        "000a000168747470733a2f2f7777772e6578616d706c652f70617468",
    ),
    (
        "LOC",
        "42 21 54 N 71 06 18 W -24m 30m",
        "0033161389172dd070be15f000988d20",
    ),
    (
        "LOC",
        "52 22 23.123 N 4 53 32.000 E -2.00m 1m 10000m 10m",
        "001216138b3cf093810cbce0009895b8",
    ),
    (
        "APL",
        "1:192.168.32.0/21 !1:192.168.38.0/28 2:2001:db8::/32",
        "00011503c0a82000011c83c0a8260002200420010db8",
    ),
    ("EUI48", "00-00-5e-00-53-2a", "00005e00532a"),
    ("EUI64", "00-00-5e-ef-10-00-00-2a", "00005eef1000002a"),
    ("TYPE65534", "\\# 3 010203", "010203"),
    ("A", "\\# 4 c0000202", "c0000202"),
    (
        "WKS",
        "192.0.2.5 tcp smtp 80 domain",
        "c0000205060000004000000400000080",
    ),
    (
        "IPSECKEY",
        "10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
        "0a0102c0000226010351537986ed35533b6064478eeeb27b5bd74dae149b6e81ba3a0521af82ab7801",
    ),
    (
        "IPSECKEY",
        "10 0 2 . AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
        "0a0002010351537986ed35533b6064478eeeb27b5bd74dae149b6e81ba3a0521af82ab7801",
    ),
    (
        "IPSECKEY",
        "10 3 2 gw.example. AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
        "0a0302026777076578616d706c6500010351537986ed35533b6064478eeeb27b5bd74dae149b6e81ba3a0521af82ab7801",
    ),
    ("CERT", "PGP 0 0 AAECAwQF", "0003000000000102030405"),
    ("CSYNC", "66 3 A NS AAAA", "000000420003000460000008"),
    (
        "ZONEMD",
        "2026 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "000007ea01010123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("DNAME", "example.org.", "076578616d706c65036f726700"),
    ("L32", "10 10.1.2.0", "000a0a010200"),
    ("L64", "10 2001:0DB8:1140:1000", "000a20010db811401000"),
    ("NID", "10 0014:4fff:ff20:ee64", "000a00144fffff20ee64"),
    (
        "LP",
        "10 l64-subnet1.example.com.",
        "000a0b6c36342d7375626e657431076578616d706c6503636f6d00",
    ),
    ("X25", "\"311061700956\"", "0c333131303631373030393536"),
    (
        "ISDN",
        "\"150862028003217\" \"004\"",
        "0f31353038363230323830303332313703303034",
    ),
    (
        "RT",
        "10 relay.example.",
        "000a0572656c6179076578616d706c6500",
    ),
    (
        "PX",
        "10 map822.example. mapx400.example.",
        "000a066d6170383232076578616d706c6500076d617078343030076578616d706c6500",
    ),
    (
        "GPOS",
        "\"-32.6882\" \"116.8652\" \"10.0\"",
        "082d33322e36383832083131362e383635320431302e30",
    ),
    ("KX", "10 kdc.example.", "000a036b6463076578616d706c6500"),
    (
        "MINFO",
        "rmail emailbx",
        "05726d61696c076578616d706c650007656d61696c6278076578616d706c6500",
    ),
    ("SPF", "\"v=spf1 -all\"", "0b763d73706631202d616c6c"),
    (
        "OPENPGPKEY",
        "AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
        "010351537986ed35533b6064478eeeb27b5bd74dae149b6e81ba3a0521af82ab7801",
    ),
    (
        "SMIMEA",
        "3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
        "030101d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
    ),
    (
        "DHCID",
        "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
        "000201636fc0b8271c82825bb1ac5c41cf5351aa69b4febd94e8f17cdb95000da48c40",
    ),
    (
        "HIP",
        "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D rvs.example.com.",
        "10020084200100107b1a74df365639cc39f1d57803010001b771ca136e4aeb5ce44333c53b3d2c13c22243851fc708bcce29f7e2eb5787b5f56ccad34f8223acc10904ddb56b2ec4a6d6232f3b50ea094f0914b3b941bbe529af582c36bbadefdaf2adaf9b4911906f5b2522603c615272b880ec8fb930cc6ee39c444daa75b1678f005a4b2499d1da5433f805c7a5ad3237acc5dd5c5e4303727673076578616d706c6503636f6d00",
    ),
];

fn wire(rtype: &str, text: &str) -> Result<Vec<u8>, String> {
    let code = types::code(rtype.as_bytes()).expect("a known type");
    let mut lexer = Lexer::new(text.as_bytes());
    let entry = lexer.next().expect("an entry").expect("lexes");
    encode(code, &entry.tokens, ORIGIN, Vec::new()).map(|e| e.wire)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_type_as_bind_and_ldns_encode_it() {
    let mut wrong = Vec::new();
    for (rtype, text, want) in REFERENCE {
        match wire(rtype, text) {
            Ok(got) if hex(&got) == *want => {}
            Ok(got) => wrong.push(format!("{rtype} {text}: got {}, want {want}", hex(&got))),
            Err(e) => wrong.push(format!("{rtype} {text}: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn surplus_and_missing_data_are_errors() {
    let err = wire("A", "192.0.2.1 192.0.2.2").unwrap_err();
    assert!(
        err.contains("surplus data after the RDATA: 192.0.2.2"),
        "{err}"
    );
    assert!(wire("MX", "10").unwrap_err().contains("is missing"));
    assert!(
        wire("SOA", "ns h 1 2 3 4")
            .unwrap_err()
            .contains("minimum is missing")
    );
    assert!(wire("A", "192.0.2.256").is_err());
    assert!(wire("MX", "65536 mail").unwrap_err().contains("over 65535"));
    assert!(
        wire("TXT", &format!("\"{}\"", "x".repeat(256)))
            .unwrap_err()
            .contains("over 255")
    );
}

#[test]
fn generic_syntax_for_any_type() {
    assert_eq!(wire("TXT", "\\# 6 0568656c6c6f").unwrap(), b"\x05hello");
    assert_eq!(wire("A", "\\# 4 c0 00 02 01").unwrap(), [192, 0, 2, 1]);
    assert_eq!(wire("TYPE65534", "\\# 0").unwrap(), Vec::<u8>::new());
    let lenient = {
        let mut lexer = Lexer::new(b"\\# 5 c0000201");
        let entry = lexer.next().unwrap().unwrap();
        encode(1, &entry.tokens, ORIGIN, Vec::new()).unwrap()
    };
    assert_eq!(lenient.wire, [192, 0, 2, 1]);
    assert!(lenient.warning.unwrap().contains("says 5 octets"));
    assert!(wire("TYPE65534", "01 02").unwrap_err().contains("RFC 3597"));
    // Known types must fit their format, as BIND and NSD check.
    assert!(wire("A", "\\# 3 c00002").unwrap_err().contains("not 4"));
    assert!(
        wire("HIP", "\\# 4 ff01ffff")
            .unwrap_err()
            .contains("the \\# data is no HIP")
    );
    assert!(wire("TXT", "\\# 2 0561").is_err());
    assert!(wire("NULL", "anything").is_err());
    assert!(
        wire("TSIG", "x")
            .unwrap_err()
            .contains("not a type of data")
    );
}

#[test]
fn svcparams_in_any_order_go_out_sorted() {
    let sorted = wire("SVCB", "1 . alpn=h2 port=53 mandatory=port").unwrap();
    let shuffled = wire("SVCB", "1 . mandatory=port port=53 alpn=h2").unwrap();
    assert_eq!(sorted, shuffled);
    assert!(
        wire("SVCB", "1 . port=53 port=54")
            .unwrap_err()
            .contains("twice")
    );
    assert!(
        wire("SVCB", "1 . bogus=1")
            .unwrap_err()
            .contains("unknown SvcParam key")
    );
    // An escaped comma inside an ALPN ID (RFC 9460 appendix A.1).
    assert_eq!(
        wire("SVCB", "1 . alpn=a\\\\,b,c").unwrap()[3..],
        [0, 1, 0, 6, 3, b'a', b',', b'b', 1, b'c']
    );
}
