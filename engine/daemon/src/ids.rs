//! Container IDs and Docker-style generated names.

/// A new 64-hex-character container ID that does not start with a run of digits only
/// (Docker avoids IDs that look like numbers, which `ps -q` users may confuse with PIDs).
pub fn new_container_id() -> String {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the kernel's random source is available");
        let id = hex::encode(bytes);
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring", "agile", "bold", "brave", "busy", "calm", "clever", "cool", "eager", "elated",
    "epic", "focused", "gallant", "gentle", "happy", "hopeful", "jolly", "keen", "kind", "loving",
    "lucid", "modest", "nifty", "noble", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet",
    "tender", "upbeat", "vibrant", "wizardly", "zealous",
];

const SCIENTISTS: &[&str] = &[
    "archimedes",
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "feynman",
    "galileo",
    "gauss",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "maxwell",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "planck",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "wozniak",
];

/// `adjective_scientist`, like Docker's generated names.
pub fn random_name() -> String {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).expect("the kernel's random source is available");
    format!(
        "{}_{}",
        ADJECTIVES[bytes[0] as usize % ADJECTIVES.len()],
        SCIENTISTS[bytes[1] as usize % SCIENTISTS.len()]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_64_hex() {
        let id = super::new_container_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn names_are_valid_container_names() {
        let name = super::random_name();
        assert!(crate::container::create::validate_name(&name).is_ok());
    }
}
