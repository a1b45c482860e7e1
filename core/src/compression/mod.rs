//! Record batch compression codecs: gzip, snappy, lz4 (frame) and zstd.
