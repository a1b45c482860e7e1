//! Record batch v2 decoding: `Batches` over the input as it is, then the first batch again with
//! its CRC made right (`set_producer_state`), so mutations get past the CRC check. Every batch
//! is walked in place, decompressed into a slice and into a capped `Vec`, and every record and
//! header is iterated.
#![no_main]

use kprod_core::record::{set_producer_state, BatchError, ProducerState, RecordBatch, Batches};
use kprod_fuzz::{walk_batch, SLICE_OUTPUT};
use libfuzzer_sys::fuzz_target;

/// Batches walked from one input at most.
const MAX_BATCHES: usize = 16;

fn producer_state(b: &[u8]) -> Option<ProducerState> {
    Some(ProducerState {
        producer_id: i64::from_be_bytes(*b.get(43..)?.first_chunk()?),
        producer_epoch: i16::from_be_bytes(*b.get(51..)?.first_chunk()?),
        base_sequence: i32::from_be_bytes(*b.get(53..)?.first_chunk()?),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut slice = vec![0u8; SLICE_OUTPUT];
    for batch in Batches::new(data).take(MAX_BATCHES) {
        let Ok(batch) = batch else { break };
        walk_batch(&batch, &mut slice);
    }

    let Some(state) = producer_state(data) else { return };
    let mut fixed = data.to_vec();
    if set_producer_state(&mut fixed, state).is_err() {
        return;
    }
    match RecordBatch::parse(&fixed) {
        Ok(batch) => {
            assert_eq!(batch.producer_state(), state);
            walk_batch(&batch, &mut slice);
        }
        Err(e @ BatchError::CrcMismatch { .. }) => panic!("CRC wrong right after set_producer_state: {e:?}"),
        Err(_) => {}
    }
});
