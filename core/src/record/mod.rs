//! Record batch v2 (magic 2): a builder into caller memory and a borrowed decoder.
