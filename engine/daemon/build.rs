//! Link berthd with packed relative relocations (DT_RELR, glibc 2.36+): its position-
//! independent image has about 28,000 of them, which as plain RELA entries are 680 KB of
//! table that the dynamic loader reads, and so keeps resident, at every start. Packed, they
//! are a few kilobytes.
fn main() {
    println!("cargo:rustc-link-arg-bin=berthd=-Wl,-z,pack-relative-relocs");
}
