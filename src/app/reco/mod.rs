//! Recommendations (issue 8), from what can be known at home: the library's tags, the sound of
//! the music, and the household's listening. So far: `sound`, the summary of a song's sound, and
//! `analysis`, which makes it for every track in the background.

pub mod analysis;
pub mod sound;
