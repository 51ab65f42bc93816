use cnfkit_tftp_wire::netascii::{self, Decoder, Encoder};

/// `netascii`: `decode(encode(x)) == x`, `encoded_len` is exact, and neither translator's output
/// depends on how input and output are cut into chunks (a CR at the end of a block).
///
/// Input: the first byte seeds the chunk sizes, the rest is the file.
pub fn netascii(data: &[u8]) {
    let Some((&seed, file)) = data.split_first() else { return };
    let whole = netascii::encode_to_vec(file);
    assert_eq!(whole.len() as u64, netascii::encoded_len(file));
    assert_eq!(netascii::decode_to_vec(&whole), file, "decode(encode(x)) == x");

    let mut sizes = ChunkSizes(seed);
    assert_eq!(chunked_encode(file, &mut sizes), whole, "chunked encode == whole encode");
    assert_eq!(chunked_decode(&whole, &mut sizes), file, "chunked decode == original");
    // Arbitrary bytes (not necessarily valid netascii) decode the same whole or chunked.
    assert_eq!(
        chunked_decode(file, &mut sizes),
        netascii::decode_to_vec(file),
        "decode is chunking-independent"
    );
}

fn chunked_encode(mut input: &[u8], sizes: &mut ChunkSizes) -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut wire = Vec::new();
    loop {
        let mut out = vec![0u8; sizes.next()];
        let (read, written) = encoder.encode(&input[..sizes.next().min(input.len())], &mut out);
        input = &input[read..];
        wire.extend_from_slice(&out[..written]);
        if input.is_empty() && !encoder.has_pending() {
            return wire;
        }
    }
}

fn chunked_decode(mut input: &[u8], sizes: &mut ChunkSizes) -> Vec<u8> {
    let mut decoder = Decoder::new();
    let mut file = Vec::new();
    while !input.is_empty() {
        let mut out = vec![0u8; sizes.next()];
        let (read, written) = decoder.decode(&input[..sizes.next().min(input.len())], &mut out);
        input = &input[read..];
        file.extend_from_slice(&out[..written]);
    }
    file.extend(decoder.finish());
    file
}

/// Deterministic chunk sizes in 1..=16 from a seed (a small xorshift).
struct ChunkSizes(u8);

impl ChunkSizes {
    fn next(&mut self) -> usize {
        let mut x = self.0 | 1;
        x ^= x << 3;
        x ^= x >> 5;
        x ^= x << 1;
        self.0 = x;
        usize::from(x % 16) + 1
    }
}
