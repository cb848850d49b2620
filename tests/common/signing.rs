//! Signing test zones with other implementations' signers (BIND's
//! dnssec-signzone, ldns-signzone), for tests that check hearsay against
//! what they write.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The first of `tools` not on the PATH, as a reason to skip.
pub fn tools_missing(tools: &[&str]) -> Option<String> {
    tools
        .iter()
        .find(|tool| {
            !std::env::var_os("PATH")
                .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
                .unwrap_or(false)
        })
        .map(|tool| {
            format!(
                "{tool} is not installed (apt-get install bind9-utils bind9-dnsutils ldnsutils)"
            )
        })
}

/// Whether `tools` are all there; if not, says why and the test passes
/// without running, or fails under `HEARSAY_REQUIRE_LAB` (as in CI).
pub fn have_tools(tools: &[&str]) -> bool {
    let Some(why) = tools_missing(tools) else {
        return true;
    };
    if std::env::var_os("HEARSAY_REQUIRE_LAB").is_some() {
        panic!("HEARSAY_REQUIRE_LAB is set but signing cannot run: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

/// Runs a tool in `dir`; its trimmed output. Fails the test if it fails.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A zone signed in a test's directory.
pub struct SignedZone {
    /// The signed zone file.
    pub file: PathBuf,
    /// The KSK's file name, without `.key` or `.private`.
    pub ksk: String,
}

/// Signs `text` as example.test in `dir` with dnssec-signzone: a KSK and
/// a ZSK of `algorithm` (`zsk_bits` for RSA), `extra` signer arguments
/// (NSEC3 parameters, say). The signer's DS is left in
/// `dir/dsset-example.test.`.
pub fn sign_with_bind(
    dir: &Path,
    text: &str,
    algorithm: &str,
    zsk_bits: Option<&str>,
    extra: &[&str],
) -> SignedZone {
    std::fs::write(dir.join("example.test.zone"), text).unwrap();
    let key = ["-q", "-K", ".", "-a", algorithm];
    let ksk_args = [&key[..], &["-f", "KSK", "example.test"]].concat();
    let ksk = run(dir, "dnssec-keygen", &ksk_args);
    let bits: Vec<&str> = zsk_bits.map(|b| vec!["-b", b]).unwrap_or_default();
    run(
        dir,
        "dnssec-keygen",
        &[&key[..], &bits, &["example.test"]].concat(),
    );
    let signer = [
        "-q",
        "-S",
        "-K",
        ".",
        "-o",
        "example.test",
        "-f",
        "signed.zone",
    ];
    let args = [&signer[..], extra, &["example.test.zone"]].concat();
    run(dir, "dnssec-signzone", &args);
    SignedZone {
        file: dir.join("signed.zone"),
        ksk,
    }
}

/// Signs `text` as example.test in `dir` with ldns-signzone, keys of
/// `algorithm`, and `options` before the zone file (`-n -p` for NSEC3
/// opt-out, say).
pub fn sign_with_ldns(dir: &Path, text: &str, algorithm: &str, options: &[&str]) -> SignedZone {
    std::fs::write(dir.join("example.test.zone"), text).unwrap();
    let ksk = run(dir, "ldns-keygen", &["-a", algorithm, "-k", "example.test"]);
    let zsk = run(dir, "ldns-keygen", &["-a", algorithm, "example.test"]);
    let args = [options, &["example.test.zone", &ksk, &zsk]].concat();
    run(dir, "ldns-signzone", &args);
    SignedZone {
        file: dir.join("example.test.zone.signed"),
        ksk,
    }
}

/// A zone signed for a lab: its text and the DS records of its KSK.
pub struct SignedText {
    pub text: String,
    /// DS records for the parent, one per line, in zone-file format.
    pub ds: String,
}

/// Signs `text` as `origin` in a directory of its own under `dir` with
/// dnssec-signzone: a KSK and a ZSK of `algorithm`, and `extra` signer
/// arguments (NSEC3 parameters, validity times).
pub fn sign_origin(
    dir: &Path,
    origin: &str,
    text: &str,
    algorithm: &str,
    extra: &[&str],
) -> SignedText {
    let dir = dir.join(format!("sign-{origin}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("unsigned.zone"), text).unwrap();
    let key = ["-q", "-K", ".", "-a", algorithm];
    run(
        &dir,
        "dnssec-keygen",
        &[&key[..], &["-f", "KSK", origin]].concat(),
    );
    run(&dir, "dnssec-keygen", &[&key[..], &[origin]].concat());
    let signer = ["-q", "-S", "-K", ".", "-o", origin, "-f", "signed.zone"];
    run(
        &dir,
        "dnssec-signzone",
        &[&signer[..], extra, &["unsigned.zone"]].concat(),
    );
    SignedText {
        text: std::fs::read_to_string(dir.join("signed.zone")).unwrap(),
        ds: std::fs::read_to_string(dir.join(match origin.ends_with('.') {
            true => format!("dsset-{origin}"),
            false => format!("dsset-{origin}."),
        }))
        .unwrap(),
    }
}

/// DS records of a key that signs nothing: a parent's DS for a key its
/// child does not publish.
pub fn stray_ds(dir: &Path, origin: &str, algorithm: &str) -> String {
    let dir = dir.join(format!("stray-{origin}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = run(
        &dir,
        "dnssec-keygen",
        &["-q", "-K", ".", "-a", algorithm, "-f", "KSK", origin],
    );
    run(&dir, "dnssec-dsfromkey", &["-2", &format!("{key}.key")])
}

/// Signs `text` as `origin` with ldns-signzone: keys of `algorithm`, and
/// `options` before the zone file (validity times, say: unlike
/// dnssec-signzone it signs a zone whose signatures have expired).
pub fn sign_origin_with_ldns(
    dir: &Path,
    origin: &str,
    text: &str,
    algorithm: &str,
    options: &[&str],
) -> SignedText {
    let dir = dir.join(format!("ldns-{origin}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("unsigned.zone"), text).unwrap();
    let ksk = run(&dir, "ldns-keygen", &["-a", algorithm, "-k", origin]);
    let zsk = run(&dir, "ldns-keygen", &["-a", algorithm, origin]);
    let args = [options, &["-o", origin, "unsigned.zone", &ksk, &zsk]].concat();
    run(&dir, "ldns-signzone", &args);
    SignedText {
        text: std::fs::read_to_string(dir.join("unsigned.zone.signed")).unwrap(),
        ds: std::fs::read_to_string(dir.join(format!("{ksk}.ds"))).unwrap(),
    }
}

/// Keys made for a zone a test signs itself, with the DNSKEY TTL it
/// chooses (to follow key rolls quickly).
pub struct Keys {
    pub dir: PathBuf,
    pub origin: String,
}

impl Keys {
    pub fn new(dir: &Path, origin: &str) -> Keys {
        let dir = dir.join(format!("keys-{origin}"));
        std::fs::create_dir_all(&dir).unwrap();
        Keys {
            dir,
            origin: origin.to_string(),
        }
    }

    /// A new key (a KSK with `ksk`), its DNSKEY TTL `ttl`; its file name.
    pub fn make(&self, algorithm: &str, ksk: bool, ttl: u32) -> String {
        let ttl = ttl.to_string();
        let mut args = vec!["-q", "-K", ".", "-a", algorithm, "-L", &ttl];
        if ksk {
            args.extend(["-f", "KSK"]);
        }
        args.push(&self.origin);
        run(&self.dir, "dnssec-keygen", &args)
    }

    /// The key `name` with its REVOKE flag set (RFC 5011); the new name.
    pub fn revoke(&self, name: &str) -> String {
        run(&self.dir, "dnssec-revoke", &["-K", ".", name]);
        // dnssec-revoke writes the revoked key under its new tag.
        let text = std::fs::read_to_string(self.dir.join(format!("{name}.key"))).unwrap();
        let revoked = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|f| f.ends_with(".key") && f != &format!("{name}.key"))
            .find(|f| {
                let other = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
                other.contains(" 385 ") && other != text
            })
            .expect("the revoked key file");
        revoked.trim_end_matches(".key").to_string()
    }

    /// `text` signed with the KSKs `ksks` and the ZSKs `zsks` (each
    /// RRset with each of them), their DNSKEYs published: the signed text.
    pub fn sign(&self, text: &str, ksks: &[&str], zsks: &[&str]) -> String {
        let mut zone = text.to_string();
        for key in ksks.iter().chain(zsks) {
            zone.push_str(&format!("$INCLUDE {key}.key\n"));
        }
        std::fs::write(self.dir.join("unsigned.zone"), zone).unwrap();
        let mut args = vec!["-q", "-K", ".", "-o", &self.origin, "-f", "signed.zone"];
        for ksk in ksks {
            args.extend(["-k", ksk]);
        }
        args.push("unsigned.zone");
        args.extend(zsks);
        run(&self.dir, "dnssec-signzone", &args);
        std::fs::read_to_string(self.dir.join("signed.zone")).unwrap()
    }

    /// The DS (SHA-256) of key `name`.
    pub fn ds(&self, name: &str) -> String {
        run(
            &self.dir,
            "dnssec-dsfromkey",
            &["-2", &format!("{name}.key")],
        )
    }
}
