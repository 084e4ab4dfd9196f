//! Link berth-supervisor with packed relative relocations (DT_RELR, glibc 2.36+), as berthd
//! (see engine/daemon/build.rs): its relocation table is read, and so kept resident, at every
//! start, and packed it shrinks from about 220 KB to a few.
fn main() {
    println!("cargo:rustc-link-arg-bin=berth-supervisor=-Wl,-z,pack-relative-relocs");
}
