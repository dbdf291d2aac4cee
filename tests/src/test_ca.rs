//! A throw-away certificate authority for TLS tests, made with the `openssl` CLI: a CA,
//! leaf certificates it signs (server, client), and SHA-256 fingerprints.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `openssl` with `args` in `dir`, failing the test on error.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (the openssl CLI is required)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A CA in `dir`: returns (certificate, key) paths.
pub fn make_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, cert) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-days",
            "2",
            "-subj",
            &format!("/CN=switchboard test CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &cert,
        ],
    );
    (dir.join(cert), dir.join(key))
}

/// A leaf certificate for `127.0.0.1` / `localhost`, usable as a TLS server and client
/// certificate, signed by the CA `(ca_cert, ca_key)`: returns (certificate, key) paths.
pub fn make_leaf(dir: &Path, ca: &(PathBuf, PathBuf), name: &str) -> (PathBuf, PathBuf) {
    let (key, csr, cert, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}-ext.cnf"),
    );
    std::fs::write(
        dir.join(&ext),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
         keyUsage = digitalSignature\nextendedKeyUsage = serverAuth, clientAuth\n",
    )
    .expect("write extensions");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &csr,
        ],
    );
    let (ca_cert, ca_key) = (ca.0.to_string_lossy(), ca.1.to_string_lossy());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    (dir.join(cert), dir.join(key))
}

/// The certificate's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it
/// (`AB:CD:...`).
pub fn sha256_fingerprint(dir: &Path, cert: &Path) -> String {
    let out = openssl(
        dir,
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            &cert.to_string_lossy(),
        ],
    );
    out.trim()
        .rsplit_once('=')
        .map(|(_, f)| f.to_string())
        .expect("fingerprint line")
}
