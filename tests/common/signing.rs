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
