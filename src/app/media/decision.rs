//! Transcode decisions (the OpenSubsonic `transcoding` extension): given what a client says it
//! can play (direct-play profiles, transcoding profiles in order of preference, codec limits),
//! whether a song plays as it is, and if not, what Houseband would make of it. The decision's
//! `transcodeParams` carry the whole job, so nothing is kept in memory between the decision and
//! the stream.

use serde::Deserialize;

use super::{Format, Job};

/// What a client can play, as it sends it (JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientInfo {
    pub name: String,
    pub platform: String,
    /// bit/s; 0 = no limit.
    pub max_audio_bitrate: i64,
    pub max_transcoding_audio_bitrate: i64,
    pub direct_play_profiles: Vec<DirectPlayProfile>,
    pub transcoding_profiles: Vec<TranscodingProfile>,
    pub codec_profiles: Vec<CodecProfile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DirectPlayProfile {
    pub containers: Vec<String>,
    pub audio_codecs: Vec<String>,
    pub protocols: Vec<String>,
    pub max_audio_channels: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TranscodingProfile {
    pub container: String,
    pub audio_codec: String,
    pub protocol: String,
    pub max_audio_channels: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CodecProfile {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub limitations: Vec<Limitation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limitation {
    pub name: String,
    pub comparison: String,
    pub values: Vec<String>,
    pub required: bool,
}

/// A stream's shape, source or target.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDetails {
    pub container: String,
    pub codec: String,
    pub channels: i64,
    /// bit/s
    pub bitrate: i64,
    pub samplerate: i64,
    /// 0 for lossy codecs.
    pub bitdepth: i64,
}

#[derive(Debug, PartialEq)]
pub struct Decision {
    pub can_direct_play: bool,
    pub can_transcode: bool,
    /// One reason per direct-play profile that did not fit.
    pub reasons: Vec<String>,
    pub error: String,
    pub params: Option<String>,
    pub source: StreamDetails,
    pub target: Option<StreamDetails>,
}

/// The source stream of a file from what the scan recorded.
pub fn source_details(
    suffix: &str,
    bit_rate_kbps: i64,
    sample_rate: i64,
    bit_depth: i64,
    channels: i64,
) -> StreamDetails {
    let suffix = suffix.to_ascii_lowercase();
    let (container, codec) = match suffix.as_str() {
        "mp3" => ("mp3", "mp3"),
        "flac" => ("flac", "flac"),
        "ogg" | "oga" => ("ogg", "vorbis"),
        "opus" => ("ogg", "opus"),
        "m4a" | "mp4" | "m4b" if bit_depth > 0 => ("mp4", "alac"),
        "m4a" | "mp4" | "m4b" => ("mp4", "aac"),
        "aac" => ("aac", "aac"),
        "wav" => ("wav", "pcm"),
        "aif" | "aiff" => ("aiff", "pcm"),
        "ape" => ("ape", "ape"),
        "mpc" => ("mpc", "mpc"),
        "wv" => ("wv", "wavpack"),
        "spx" => ("ogg", "speex"),
        other => (other, other),
    };
    StreamDetails {
        container: container.into(),
        codec: codec.into(),
        channels,
        bitrate: bit_rate_kbps * 1000,
        samplerate: sample_rate,
        bitdepth: bit_depth,
    }
}

fn listed(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|v| v.eq_ignore_ascii_case(value))
}

/// Whether `details` meets `limit` (limits on things we do not know, like `audioProfile`,
/// are met).
fn meets(details: &StreamDetails, limit: &Limitation) -> bool {
    let have = match limit.name.as_str() {
        "audioChannels" => details.channels,
        "audioBitrate" => details.bitrate,
        "audioSamplerate" => details.samplerate,
        "audioBitdepth" => details.bitdepth,
        _ => return true,
    };
    let numbers: Vec<i64> = limit
        .values
        .iter()
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let Some(first) = numbers.first().copied() else {
        return true;
    };
    match limit.comparison.as_str() {
        "Equals" => numbers.contains(&have),
        "NotEquals" => !numbers.contains(&have),
        "LessThanEqual" => have <= first,
        "GreaterThanEqual" => have >= first,
        _ => true,
    }
}

/// The first required limitation of `codec`'s profiles that `details` fails.
fn failed_limit<'a>(client: &'a ClientInfo, details: &StreamDetails) -> Option<&'a Limitation> {
    client
        .codec_profiles
        .iter()
        .filter(|p| p.kind == "AudioCodec" && p.name.eq_ignore_ascii_case(&details.codec))
        .flat_map(|p| &p.limitations)
        .find(|l| l.required && !meets(details, l))
}

/// The smallest `LessThanEqual` limit the client puts on `name` for `codec`.
fn upper_limit(client: &ClientInfo, codec: &str, name: &str) -> Option<i64> {
    client
        .codec_profiles
        .iter()
        .filter(|p| p.kind == "AudioCodec" && p.name.eq_ignore_ascii_case(codec))
        .flat_map(|p| &p.limitations)
        .filter(|l| l.name == name && l.comparison == "LessThanEqual")
        .filter_map(|l| l.values.first()?.trim().parse().ok())
        .min()
}

/// Why a direct-play profile does not fit the source, or `None` when it does.
fn misfit(client: &ClientInfo, p: &DirectPlayProfile, s: &StreamDetails) -> Option<String> {
    if !p.protocols.is_empty() && !listed(&p.protocols, "http") {
        return Some("ProtocolNotSupported".into());
    }
    if !listed(&p.containers, &s.container) {
        return Some("ContainerNotSupported".into());
    }
    if !listed(&p.audio_codecs, &s.codec) {
        return Some("AudioCodecNotSupported".into());
    }
    if p.max_audio_channels
        .is_some_and(|m| m > 0 && s.channels > m)
    {
        return Some("AudioChannelsNotSupported".into());
    }
    if client.max_audio_bitrate > 0 && s.bitrate > client.max_audio_bitrate {
        return Some("AudioBitrateNotSupported".into());
    }
    failed_limit(client, s).map(|l| format!("{}NotSupported", capitalised(&l.name)))
}

fn capitalised(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// The format Houseband encodes for a transcoding profile, if any.
fn format_for(p: &TranscodingProfile) -> Option<Format> {
    let codec = p.audio_codec.to_ascii_lowercase();
    let container = p.container.to_ascii_lowercase();
    Some(match (codec.as_str(), container.as_str()) {
        ("mp3", "mp3" | "") => Format::Mp3,
        ("opus", "ogg" | "opus" | "") => Format::Opus,
        ("vorbis", "ogg" | "") => Format::Vorbis,
        ("flac", "flac" | "") => Format::Flac,
        ("pcm" | "wav", "wav" | "") => Format::Wav,
        _ => return None,
    })
}

/// Decides for a song (`source`) and a client.
pub fn decide(client: &ClientInfo, source: &StreamDetails, decodable: bool) -> Decision {
    let reasons: Vec<String> = client
        .direct_play_profiles
        .iter()
        .filter_map(|p| misfit(client, p, source))
        .collect();
    let can_direct_play = reasons.len() < client.direct_play_profiles.len();
    let mut decision = Decision {
        can_direct_play,
        can_transcode: false,
        reasons: if can_direct_play { Vec::new() } else { reasons },
        error: String::new(),
        params: None,
        source: source.clone(),
        target: None,
    };
    if !decodable {
        decision.error = format!(
            "{} files cannot be transcoded here (no decoder is built in)",
            source.codec
        );
        return decision;
    }
    let usable = client.transcoding_profiles.iter().find_map(|p| {
        let format = format_for(p).filter(|f| f.available())?;
        (p.protocol.is_empty() || p.protocol.eq_ignore_ascii_case("http")).then_some((p, format))
    });
    let Some((profile, format)) = usable else {
        decision.error = if client.transcoding_profiles.is_empty() {
            "the client gave no transcoding profile".into()
        } else {
            "none of the client's transcoding profiles is one this server makes (http: mp3, opus, vorbis, flac, wav)".into()
        };
        return decision;
    };
    let codec = match format {
        Format::Mp3 => "mp3",
        Format::Opus => "opus",
        Format::Vorbis => "vorbis",
        Format::Flac => "flac",
        Format::Wav => "pcm",
    };
    let mut channels = source.channels.max(1);
    if matches!(format, Format::Mp3 | Format::Opus) {
        channels = channels.min(2);
    }
    if let Some(max) = profile.max_audio_channels.filter(|m| *m > 0) {
        channels = channels.min(max);
    }
    let mut kbps = format.default_bitrate() as i64;
    for limit in [
        (client.max_transcoding_audio_bitrate > 0).then_some(client.max_transcoding_audio_bitrate),
        (client.max_audio_bitrate > 0).then_some(client.max_audio_bitrate),
        upper_limit(client, codec, "audioBitrate"),
    ]
    .into_iter()
    .flatten()
    {
        kbps = kbps.min(limit / 1000);
    }
    let kbps = format.fit_bitrate(kbps.max(0) as u32);
    let samplerate = match format {
        Format::Opus => 48_000,
        Format::Mp3 => source.samplerate.min(48_000),
        _ => source.samplerate,
    };
    let lossless = format.lossless();
    decision.can_transcode = true;
    decision.params = Some(format!("v1.{}.{kbps}.{channels}", format.suffix()));
    decision.target = Some(StreamDetails {
        container: match format {
            Format::Opus | Format::Vorbis => "ogg".into(),
            other => other.suffix().into(),
        },
        codec: codec.into(),
        channels,
        bitrate: if lossless { 0 } else { kbps as i64 * 1000 },
        samplerate,
        bitdepth: if lossless { 16 } else { 0 },
    });
    decision
}

/// The job a decision's `transcodeParams` stand for (`None` if they are not ours).
pub fn job_of(params: &str, offset: f64) -> Option<Job> {
    let mut parts = params.split('.');
    if parts.next()? != "v1" {
        return None;
    }
    let format = Format::parse(parts.next()?)?;
    let bitrate: u32 = parts.next()?.parse().ok()?;
    let _channels: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(Job {
        format,
        bitrate: format.fit_bitrate(bitrate),
        offset,
        gain: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(json: &str) -> ClientInfo {
        serde_json::from_str(json).unwrap()
    }

    const SONOS: &str = r#"{
      "name": "Play:1", "platform": "Sonos", "maxAudioBitrate": 512000,
      "maxTranscodingAudioBitrate": 256000,
      "directPlayProfiles": [
        {"containers": ["mp3"], "audioCodecs": ["mp3"], "protocols": ["http"], "maxAudioChannels": 2},
        {"containers": ["flac"], "audioCodecs": ["flac"], "protocols": [], "maxAudioChannels": 2}
      ],
      "transcodingProfiles": [
        {"container": "mp4", "audioCodec": "aac", "protocol": "http"},
        {"container": "mp3", "audioCodec": "mp3", "protocol": "http", "maxAudioChannels": 2}
      ],
      "codecProfiles": [
        {"type": "AudioCodec", "name": "mp3", "limitations": [
          {"name": "audioBitrate", "comparison": "LessThanEqual", "values": ["160000"], "required": true}]},
        {"type": "AudioCodec", "name": "flac", "limitations": [
          {"name": "audioSamplerate", "comparison": "LessThanEqual", "values": ["48000"], "required": true}]}
      ]
    }"#;

    #[test]
    fn a_file_the_client_plays_is_played_directly() {
        let c = client(SONOS);
        let d = decide(&c, &source_details("flac", 500, 44_100, 16, 2), true);
        assert!(d.can_direct_play);
        assert!(d.reasons.is_empty());
    }

    #[test]
    fn too_much_for_the_client_is_transcoded_by_its_first_usable_profile() {
        let c = client(SONOS);
        // 96 kHz FLAC breaks the required sample-rate limit; AAC is not made here, MP3 is.
        let d = decide(&c, &source_details("flac", 3000, 96_000, 24, 6), true);
        assert!(!d.can_direct_play);
        assert_eq!(
            d.reasons,
            ["ContainerNotSupported", "AudioChannelsNotSupported"]
        );
        let t = d.target.unwrap();
        assert_eq!(
            (t.codec.as_str(), t.channels, t.samplerate),
            ("mp3", 2, 48_000)
        );
        // The smallest of 192 (default), 256 (max transcoding) and 160 (the MP3 limit).
        assert_eq!(t.bitrate, 160_000);
        let job = job_of(d.params.as_deref().unwrap(), 0.0).unwrap();
        assert_eq!((job.format, job.bitrate), (Format::Mp3, 160));
    }

    #[test]
    fn formats_without_a_decoder_and_unknown_profiles_say_why() {
        let c = client(SONOS);
        let d = decide(&c, &source_details("ape", 900, 44_100, 16, 2), false);
        assert!(!d.can_transcode && d.error.contains("ape"));
        let c = client(
            r#"{"name":"x","platform":"y","transcodingProfiles":[{"container":"mp4","audioCodec":"aac","protocol":"hls"}]}"#,
        );
        let d = decide(&c, &source_details("flac", 900, 44_100, 16, 2), true);
        assert!(!d.can_transcode && !d.error.is_empty());
        assert!(job_of("v2.mp3.1.2", 0.0).is_none() && job_of("v1.mp3.x.2", 0.0).is_none());
    }
}
