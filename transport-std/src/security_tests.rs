use super::*;
use crate::ProducerConfig;

#[test]
fn placeholder() {
    let _ = ProducerConfig::default();
}
