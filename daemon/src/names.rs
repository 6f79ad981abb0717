//! Generated container names in Docker's style: adjective_surname.

const ADJECTIVES: [&str; 24] = [
    "admiring",
    "brave",
    "clever",
    "dazzling",
    "eager",
    "focused",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];
const SURNAMES: [&str; 24] = [
    "allen",
    "babbage",
    "curie",
    "dijkstra",
    "euler",
    "fermat",
    "gauss",
    "hopper",
    "ishango",
    "johnson",
    "knuth",
    "lovelace",
    "mcclintock",
    "noether",
    "ostrom",
    "pike",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "varahamihira",
    "wozniak",
    "yalow",
    "zhukovsky",
];

pub fn generate() -> String {
    let mut b = [0u8; 3];
    getrandom_fill(&mut b);
    let n = u16::from_le_bytes([b[0], b[1]]) as usize;
    format!(
        "{}_{}{}",
        ADJECTIVES[n % ADJECTIVES.len()],
        SURNAMES[(n / ADJECTIVES.len()) % SURNAMES.len()],
        b[2] % 100
    )
}

fn getrandom_fill(buf: &mut [u8]) {
    // The engine's id generator is the one source of randomness; take bytes of a fresh id.
    let id = berth_engine::fsutil::new_id();
    for (i, b) in buf.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id[i * 2..i * 2 + 2], 16).unwrap_or(0);
    }
}
