//! Signatures made by other signers check here: a zone with names in
//! mixed case in its RDATA, a wildcard and unsorted RRsets is signed by
//! BIND's dnssec-signzone with each algorithm a validator must support
//! (RSA/SHA-256 with a 1024-bit ZSK, RSA/SHA-512, ECDSA P-256 and P-384,
//! Ed25519) and by ldns-signzone; every RRSIG in the signed file must check
//! with the zone's DNSKEY, the KSK must match the DS the signer wrote, the
//! chain from that DS must prove every RRset, and changed data must fail.

use std::collections::HashMap;
use std::path::Path;

mod common;

use common::signing::{have_tools, sign_with_bind, sign_with_ldns};
use hearsay::dnssec::records::DigestCheck;
use hearsay::dnssec::{
    Budget, Dnskey, Ds, Failure, KeyVerdict, Rrsig, prove_keys, prove_rrset, verify_rrset,
};
use hearsay::zone::read_master_file_into;
use hickory_proto::rr::Name;

const ZONE: &str = "$ORIGIN example.test.
$TTL 3600
@ SOA NS1.Example.TEST. HostMaster 1 7200 3600 1209600 300
  NS NS1
  NS ns2.Example.Org.
  MX 10 Mail.Example.TEST.
  A 192.0.2.9
  A 192.0.2.1
  A 192.0.2.5
NS1 A 192.0.2.53
mail A 192.0.2.25
www CNAME Web.Example.TEST.
web AAAA 2001:db8::80
_sip._tcp SRV 0 5 5060 SIP.Example.TEST.
sip A 192.0.2.60
naptr NAPTR 100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.test!\" Replace.Example.TEST.
rp RP Admin.Example.TEST. Info.Example.TEST.
*.wild TXT \"wild\" \"card\"
Upper TXT \"The Owner Is Written In Capitals\"
dkim._domainkey TXT ( \"v=DKIM1; k=rsa; \"
                      \"p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\" )
";

/// An RRset as read: its owner as written, and its RDATAs.
type Rrset = (Vec<u8>, Vec<Vec<u8>>);

/// Records of the signed zone, wire form, by owner (lowercase) and type.
#[derive(Default)]
struct Signed {
    sets: HashMap<(Vec<u8>, u16), Rrset>,
}

impl Signed {
    fn read(path: &Path) -> Signed {
        let mut signed = Signed::default();
        let origin = Name::from_ascii("example.test.").unwrap();
        read_master_file_into(path, &origin, None, &mut |record, _, _| {
            let key = (record.owner.to_ascii_lowercase(), record.rtype);
            let entry = signed
                .sets
                .entry(key)
                .or_insert_with(|| (record.owner.to_vec(), Vec::new()));
            entry.1.push(record.rdata.to_vec());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("hearsay cannot read the signed zone: {e}"));
        signed
    }

    fn rdatas(&self, owner: &[u8], rtype: u16) -> Vec<&[u8]> {
        self.sets
            .get(&(owner.to_ascii_lowercase(), rtype))
            .map(|(_, r)| r.iter().map(Vec::as_slice).collect())
            .unwrap_or_default()
    }
}

const APEX: &[u8] = b"\x07example\x04test\x00";

/// Checks every RRSIG of the zone; returns how many checked, and fails
/// on any that does not.
fn check_every_signature(signed: &Signed, algorithm: u8) -> usize {
    let keys = signed.rdatas(APEX, 48);
    assert!(!keys.is_empty(), "no DNSKEY at the apex");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut scratch = Vec::new();
    let mut checked = 0;
    for ((_, rtype), (owner, rrsigs)) in &signed.sets {
        if *rtype != 46 {
            continue;
        }
        for rrsig in rrsigs {
            let fields = Rrsig::parse(rrsig).expect("an RRSIG that parses");
            assert_eq!(fields.algorithm, algorithm);
            let rdatas = signed.rdatas(owner, fields.type_covered);
            assert!(!rdatas.is_empty(), "an RRSIG over nothing");
            let results: Vec<Result<(), Failure>> = keys
                .iter()
                .map(|key| {
                    verify_rrset(
                        rrsig,
                        owner,
                        fields.type_covered,
                        &rdatas,
                        APEX,
                        key,
                        now,
                        &mut scratch,
                    )
                })
                .collect();
            assert!(
                results.contains(&Ok(())),
                "the RRSIG over {} type {} does not check: {results:?}",
                hearsay::wire::name::wire_to_text(owner),
                fields.type_covered
            );
            checked += 1;
        }
    }
    checked
}

/// Changed data, or a signature checked a week after it expired, fails.
fn check_failures(signed: &Signed) {
    let keys = signed.rdatas(APEX, 48);
    let rrsig = signed
        .rdatas(APEX, 46)
        .into_iter()
        .find(|r| Rrsig::parse(r).is_some_and(|s| s.type_covered == 1))
        .expect("the apex A RRset is signed");
    let mut addresses: Vec<Vec<u8>> = signed.rdatas(APEX, 1).iter().map(|r| r.to_vec()).collect();
    let fields = Rrsig::parse(rrsig).unwrap();
    let key = keys
        .iter()
        .find(|k| Dnskey::parse(k).unwrap().key_tag() == fields.key_tag)
        .unwrap();
    let mut scratch = Vec::new();
    let mut check = |rdatas: &[Vec<u8>], now: u32| {
        let rdatas: Vec<&[u8]> = rdatas.iter().map(Vec::as_slice).collect();
        verify_rrset(rrsig, APEX, 1, &rdatas, APEX, key, now, &mut scratch)
    };
    let now = fields.inception.wrapping_add(3600);
    assert_eq!(check(&addresses, now), Ok(()));
    assert_eq!(
        check(&addresses, fields.expiration.wrapping_add(8 * 86400)),
        Err(Failure::SignatureExpired)
    );
    addresses[0][3] ^= 1;
    assert_eq!(check(&addresses, now), Err(Failure::BadSignature));
    addresses.pop();
    addresses[0][3] ^= 1;
    assert_eq!(
        check(&addresses, now),
        Err(Failure::BadSignature),
        "a record left out"
    );
}

/// The DS RDATA the signer wrote for its KSK (dsset-example.test.).
fn read_ds(dir: &Path) -> Vec<Vec<u8>> {
    let origin = Name::from_ascii("example.test.").unwrap();
    let mut ds_rdatas = Vec::new();
    read_master_file_into(
        &dir.join("dsset-example.test."),
        &origin,
        None,
        &mut |record, _, _| {
            if record.rtype == 43 {
                ds_rdatas.push(record.rdata.to_vec());
            }
            Ok(())
        },
    )
    .unwrap();
    assert!(!ds_rdatas.is_empty(), "no DS in the dsset file");
    ds_rdatas
}

/// The DS the signer wrote for its KSK matches that key here.
fn check_ds(ds_rdatas: &[Vec<u8>], signed: &Signed) {
    let keys = signed.rdatas(APEX, 48);
    for ds in ds_rdatas {
        let ds = Ds::parse(ds).unwrap();
        let verdicts: Vec<DigestCheck> = keys
            .iter()
            .map(|k| ds.matches(b"\x07EXAMPLE\x04test\x00", &Dnskey::parse(k).unwrap()))
            .collect();
        assert!(
            verdicts.contains(&DigestCheck::Match),
            "{ds:?}: {verdicts:?}"
        );
    }
}

/// The chain from the DS: the DNSKEY RRset is proven by it, and then every
/// RRset of the zone by those keys, within one question's budget each.
/// A DS for another key leaves the keys bogus.
fn check_chain(ds_rdatas: &[Vec<u8>], signed: &Signed) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let ds: Vec<&[u8]> = ds_rdatas.iter().map(Vec::as_slice).collect();
    let keys = signed.rdatas(APEX, 48);
    let sigs_over = |owner: &[u8], rtype: u16| -> Vec<&[u8]> {
        signed
            .rdatas(owner, 46)
            .into_iter()
            .filter(|r| Rrsig::parse(r).is_some_and(|s| s.type_covered == rtype))
            .collect()
    };
    let mut scratch = Vec::new();
    let mut budget = Budget::default();
    let verdict = prove_keys(
        APEX,
        &keys,
        &sigs_over(APEX, 48),
        &ds,
        &[],
        now,
        &mut budget,
        &mut scratch,
    )
    .unwrap();
    let KeyVerdict::Secure(zone_keys, _) = verdict else {
        panic!("the DNSKEY RRset is not proven by its DS: {verdict:?}");
    };
    let mut proven = 0;
    for ((_, rtype), (owner, rdatas)) in &signed.sets {
        if *rtype == 46 {
            continue;
        }
        let rdatas: Vec<&[u8]> = rdatas.iter().map(Vec::as_slice).collect();
        let mut budget = Budget::default();
        let verdict = prove_rrset(
            &zone_keys,
            owner,
            *rtype,
            &rdatas,
            &sigs_over(owner, *rtype),
            now,
            &mut budget,
            &mut scratch,
        );
        assert!(
            matches!(verdict, Ok(Ok(_))),
            "{} type {rtype}: {verdict:?}",
            hearsay::wire::name::wire_to_text(owner)
        );
        proven += 1;
    }
    let mut other = ds_rdatas[0].clone();
    other[0] ^= 0x55;
    let verdict = prove_keys(
        APEX,
        &keys,
        &sigs_over(APEX, 48),
        &[&other],
        &[],
        now,
        &mut Budget::default(),
        &mut scratch,
    );
    assert_eq!(verdict, Ok(KeyVerdict::Bogus(Failure::DnskeyMissing)));
    proven
}

fn require_tools() -> bool {
    have_tools(&[
        "dnssec-keygen",
        "dnssec-signzone",
        "ldns-keygen",
        "ldns-signzone",
    ])
}

#[test]
fn signatures_by_dnssec_signzone_check_for_every_required_algorithm() {
    if !require_tools() {
        return;
    }
    for (name, number, zsk_bits) in [
        ("RSASHA256", 8, Some("1024")),
        ("RSASHA512", 10, None),
        ("ECDSAP256SHA256", 13, None),
        ("ECDSAP384SHA384", 14, None),
        ("ED25519", 15, None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let signed = Signed::read(&sign_with_bind(dir.path(), ZONE, name, zsk_bits, &[]).file);
        let checked = check_every_signature(&signed, number);
        // Every RRset (13 names) and its NSEC, and the DNSKEY RRset.
        assert!(checked >= 25, "{name}: only {checked} signatures");
        eprintln!("{name}: {checked} signatures check");
        check_failures(&signed);
        let ds = read_ds(dir.path());
        check_ds(&ds, &signed);
        let proven = check_chain(&ds, &signed);
        eprintln!("{name}: {proven} RRsets proven from the DS");
    }
}

#[test]
fn signatures_by_ldns_signzone_check() {
    if !require_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = ["-n", "-s", "beef", "-t", "1"];
    let signed = sign_with_ldns(dir.path(), ZONE, "ECDSAP256SHA256", &options);
    let signed = Signed::read(&signed.file);
    let checked = check_every_signature(&signed, 13);
    assert!(checked >= 25, "only {checked} signatures");
    check_failures(&signed);
}

#[test]
fn nsec_proofs_from_dnssec_signzone_deny_what_is_absent_and_nothing_else() {
    use hearsay::dnssec::denial::{Denial, Nsec, prove_nodata, prove_nxdomain};
    if !require_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{ZONE}sub NS ns1.elsewhere.test.\n");
    let signed = sign_with_bind(dir.path(), &text, "ECDSAP256SHA256", None, &[]);
    let signed = Signed::read(&signed.file);
    let records: Vec<(Vec<u8>, Vec<u8>)> = signed
        .sets
        .iter()
        .filter(|((_, rtype), _)| *rtype == 47)
        .flat_map(|(_, (owner, rdatas))| rdatas.iter().map(|r| (owner.clone(), r.clone())))
        .collect();
    let all: Vec<Nsec<'_>> = records
        .iter()
        .map(|(owner, rdata)| Nsec::parse(owner, rdata).unwrap())
        .collect();
    let wire = |name: &str| {
        let mut out = Vec::new();
        hearsay::wire::name::name_to_wire(&Name::from_ascii(name).unwrap(), &mut out);
        out
    };
    let (a, txt, mx, ds) = (1, 16, 15, 43);

    // Names that do not exist, and some that do.
    assert_eq!(prove_nxdomain(&wire("nope.example.test."), &all), Ok(()));
    assert_eq!(prove_nxdomain(&wire("a.nope.example.test."), &all), Ok(()));
    assert_eq!(prove_nxdomain(&wire("ZZZ.Example.Test."), &all), Ok(()));
    for exists in ["mail.example.test.", "example.test.", "_tcp.example.test."] {
        assert!(prove_nxdomain(&wire(exists), &all).is_err(), "{exists}");
    }
    // Below the wildcard the name would be synthesised, not denied.
    assert!(prove_nxdomain(&wire("x.wild.example.test."), &all).is_err());
    // Below a delegation the parent's NSEC proves nothing.
    assert!(prove_nxdomain(&wire("x.sub.example.test."), &all).is_err());
    // One NSEC alone does not prove a name and the wildcard absent.
    let nope = wire("nope.example.test.");
    let only_cover: Vec<Nsec<'_>> = all.iter().copied().filter(|n| n.covers(&nope)).collect();
    assert_eq!(only_cover.len(), 1);
    assert!(!only_cover[0].covers(b"\x01*\x07example\x04test\x00"));
    assert!(prove_nxdomain(&nope, &only_cover).is_err());

    // Types that are not there.
    assert_eq!(
        prove_nodata(&wire("mail.example.test."), txt, &all),
        Ok(Denial::NoData)
    );
    assert!(prove_nodata(&wire("mail.example.test."), a, &all).is_err());
    assert!(
        prove_nodata(&wire("www.example.test."), a, &all).is_err(),
        "a CNAME is there"
    );
    assert_eq!(
        prove_nodata(&wire("_tcp.example.test."), txt, &all),
        Ok(Denial::NoData)
    );
    assert_eq!(
        prove_nodata(&wire("x.wild.example.test."), mx, &all),
        Ok(Denial::NoData)
    );
    assert!(prove_nodata(&wire("x.wild.example.test."), txt, &all).is_err());
    assert!(
        prove_nodata(&wire("nope.example.test."), a, &all).is_err(),
        "NXDOMAIN, not NODATA"
    );
    // The delegation: no DS, so the child is insecure; its other types are
    // the child's to deny.
    assert_eq!(
        prove_nodata(&wire("sub.example.test."), ds, &all),
        Ok(Denial::InsecureDelegation)
    );
    assert!(prove_nodata(&wire("sub.example.test."), a, &all).is_err());
}

/// The NSEC3 records of a signed zone file.
fn nsec3_records(signed: &Signed) -> Vec<(Vec<u8>, Vec<u8>)> {
    signed
        .sets
        .iter()
        .filter(|((_, rtype), _)| *rtype == 50)
        .flat_map(|(_, (owner, rdatas))| rdatas.iter().map(|r| (owner.clone(), r.clone())))
        .collect()
}

fn wire_of(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    hearsay::wire::name::name_to_wire(&Name::from_ascii(name).unwrap(), &mut out);
    out
}

#[test]
fn nsec3_proofs_from_both_signers_deny_what_is_absent_and_nothing_else() {
    use hearsay::dnssec::denial::Denial;
    use hearsay::dnssec::nsec3::{Nsec3, Nsec3Proof, prove_nodata, prove_nxdomain};
    if !require_tools() {
        return;
    }
    let (a, txt, mx, ds) = (1, 16, 15, 43);
    let text = format!("{ZONE}sub NS ns1.elsewhere.test.\n");

    // dnssec-signzone: NSEC3 with a salt and 5 iterations, no opt-out.
    let dir = tempfile::tempdir().unwrap();
    let bind = sign_with_bind(
        dir.path(),
        &text,
        "ECDSAP256SHA256",
        None,
        &["-3", "aabbccdd", "-H", "5"],
    )
    .file;
    // ldns-signzone: NSEC3 opt-out.
    let dir2 = tempfile::tempdir().unwrap();
    let options = ["-n", "-p", "-s", "beef", "-t", "2"];
    let ldns = sign_with_ldns(dir2.path(), &text, "ED25519", &options).file;

    for (signer, path, opt_out) in [
        ("dnssec-signzone", bind, false),
        ("ldns-signzone -p", ldns, true),
    ] {
        let records = nsec3_records(&Signed::read(&path));
        let all: Vec<Nsec3<'_>> = records
            .iter()
            .map(|(owner, rdata)| Nsec3::parse(owner, rdata).unwrap())
            .collect();
        assert!(all.len() > 10, "{signer}: {} NSEC3 records", all.len());
        let mut budget = Budget::default();
        let mut nx = |name: &str| prove_nxdomain(&wire_of(name), &all, &mut budget).unwrap();
        for missing in [
            "nope.example.test.",
            "a.nope.example.test.",
            "ZZZ.Example.TEST.",
        ] {
            let verdict = nx(missing);
            // Under an opt-out span a missing name is only insecurely so.
            if opt_out {
                assert!(
                    matches!(verdict, Ok(Nsec3Proof::NxDomain | Nsec3Proof::Insecure)),
                    "{signer} {missing}: {verdict:?}"
                );
            } else {
                assert_eq!(verdict, Ok(Nsec3Proof::NxDomain), "{signer} {missing}");
            }
        }
        for exists in [
            "mail.example.test.",
            "example.test.",
            "_tcp.example.test.",
            "x.wild.example.test.",
        ] {
            assert!(nx(exists).is_err(), "{signer}: {exists} proven missing");
        }
        let mut budget = Budget::default();
        let mut nodata = |name: &str, rtype: u16| {
            prove_nodata(&wire_of(name), rtype, &all, &mut budget).unwrap()
        };
        let no = Ok(Nsec3Proof::Denied(Denial::NoData));
        assert_eq!(nodata("mail.example.test.", txt), no, "{signer}");
        assert_eq!(
            nodata("_tcp.example.test.", txt),
            no,
            "{signer}: empty non-terminal"
        );
        assert_eq!(nodata("x.wild.example.test.", mx), no, "{signer}: wildcard");
        assert!(nodata("mail.example.test.", a).is_err(), "{signer}");
        assert!(nodata("www.example.test.", a).is_err(), "{signer}: a CNAME");
        assert!(nodata("x.wild.example.test.", txt).is_err(), "{signer}");
        // Both signers give the delegation an NSEC3 of its own, which
        // proves the DS absent; a DS under an opt-out span with none is
        // only insecurely absent (tests/validation.rs).
        assert_eq!(
            nodata("sub.example.test.", ds),
            Ok(Nsec3Proof::Denied(Denial::InsecureDelegation)),
            "{signer}: DS at the unsigned delegation"
        );
        assert!(
            nodata("sub.example.test.", a).is_err(),
            "{signer}: the child's data"
        );
    }
}
