#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the test fixtures and from examples of
what each speaker, service and client sends. Run from anywhere: `python3 fuzz/make_corpus.py`.
Seeds stay small (a few KB): audio fixtures bigger than 16 KB are cut to their first 12 KB and
last 4 KB, where the tags are. The input layouts are documented in src/fuzzing.rs."""

import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

# The scanner's audio extensions, in the order of AUDIO_EXTENSIONS in src/app/library/tags.rs:
# the tags target picks the extension by the first byte of its input.
EXTENSIONS = ["mp3", "mp2", "flac", "ogg", "oga", "opus", "spx", "m4a", "m4b", "mp4", "aac",
              "wav", "aif", "aiff", "aifc", "ape", "wv", "mpc", "mp+", "mpp"]


def put(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def small(data):
    return data if len(data) <= 16384 else data[:12288] + data[-4096:]


def tags():
    for folder, _, files in os.walk(FIXTURES):
        for name in sorted(files):
            ext = name.rsplit(".", 1)[-1].lower()
            if ext not in EXTENSIONS:
                continue
            with open(os.path.join(folder, name), "rb") as f:
                data = small(f.read())
            seed = "".join(c if c.isalnum() else "-" for c in name.lower())
            put("tags", seed, bytes([EXTENSIONS.index(ext)]) + data)


def m3u():
    put("m3u", "extended.m3u8", "\ufeff#EXTM3U\n#PLAYLIST:Road trip\n#EXTINF:215,Aurora Fields - Polar Night\n"
        "../Aurora Fields/Northern Lights (2019)/01 - Polar Night.flac\n"
        "#EXTINF:-1,Radio\nhttp://radio.example/stream\n"
        "/music/The Testers/Tag Soup/01 - Four.mp3\n"
        "file:///music/Various%20Artists/Summer%20Hits/01%20-%20Sunny.mp3\n"
        "C:\\Music\\Orchestra Nova\\Symphony No. 1\\CD1\\01 - Allegro.flac\n"
        "  ./relative/./../song.ogg  \r\n#EXTGENRE:Jazz\n")
    put("m3u", "latin1.m3u", b"#EXTM3U\n#EXTINF:10,Caf\xe9\nCaf\xe9/chanson.mp3\n")
    put("m3u", "plain.m3u", "01 - One.mp3\n02 - Two.mp3\n\n%zz%2Fbad.mp3\n")


def lrc():
    with open(os.path.join(FIXTURES, "library", "Aurora Fields", "Northern Lights (2019)",
                           "03 - Midnight Sun.lrc"), "rb") as f:
        put("lrc", "fixture.lrc", f.read())
    put("lrc", "tags.lrc", "[ar:Aurora Fields]\n[ti:Polar Night]\n[la:eng]\n[offset:+250]\n[length: 3:35]\n"
        "[00:12.00][01:12.50]Night falls\n[00:17.20]<00:17.20>word <00:17.90>by <00:18.30>word\n"
        "[99:59.999]last\n[-00:01.00]before\n[1:2:3]odd\nplain line\n")
    put("lrc", "plain.txt", "Just words\nno times at all\n")


def subsonic_params():
    put("subsonic_params", "login", "u=anna&t=26719a1196d2a940705a59634eb18eab&s=c19b2d&v=1.16.1&c=DSub&f=json")
    put("subsonic_params", "password", "u=anna&p=enc:73656372657421&v=1.13.0&c=test&f=xml")
    put("subsonic_params", "list", "type=byYear&fromYear=1990&toYear=2020&size=500&offset=20&musicFolderId=1")
    put("subsonic_params", "ids", "id=tr-12&id=al-3&id=ar-7&songIdToAdd=tr-1&songIndexToRemove=0&current=tr-9&position=1200")
    put("subsonic_params", "stream", "id=tr-4&maxBitRate=320&format=opus&timeOffset=12.5&estimateContentLength=true")
    put("subsonic_params", "transcode", "id=tr-4&mediaType=song&transcodeParams=v1.opus.128.2&offset=3")
    put("subsonic_params", "form", "f=json\nu=anna&p=secret&v=1.16.1&c=web&query=caf%C3%A9+%26+cr%C3%A8me&artistCount=5")
    put("subsonic_params", "decision", "id=tr-4&mediaType=song&v=1.16.1\n" + json.dumps({
        "name": "Play:1", "platform": "Sonos", "maxAudioBitrate": 512000, "maxTranscodingAudioBitrate": 256000,
        "directPlayProfiles": [{"containers": ["mp3", "flac"], "audioCodecs": ["mp3", "flac"], "protocols": ["http"], "maxAudioChannels": 2}],
        "transcodingProfiles": [{"container": "mp3", "audioCodec": "mp3", "protocol": "http", "maxAudioChannels": 2}],
        "codecProfiles": [{"type": "AudioCodec", "name": "flac", "limitations": [{"name": "audioSamplerate", "comparison": "LessThanEqual", "values": ["48000"], "required": True}]}],
    }))


def api_json():
    put("api_json", "player", '{"transcodeFormat": "opus", "maxBitRate": 192}')
    put("api_json", "preferences", '{"transcodeFormat": null}')
    put("api_json", "login", '{"username": "anna", "password": "s\\u00e9cret"}')
    put("api_json", "key", '{"label": "my phone"}')
    put("api_json", "switch", '{"enabled": true}')
    put("api_json", "token", '{"token": "0f7c1a7e-5b6d-4c2b-9a1e-0c6f1d2e3a4b"}')
    put("api_json", "finish", '{"state": "1.1733200000.abcdef", "token": "lastfm-token"}')
    put("api_json", "folder", '{"path": "/srv/music"}')
    put("api_json", "empty", "  \n")


def ws_frame(text, opcode=1, fin=True, mask=b"\x11\x22\x33\x44"):
    data = text.encode() if isinstance(text, str) else text
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(data)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def queue_socket():
    ops = [
        {"op": "add", "songs": ["tr-1", "tr-2"], "position": "next", "version": 3},
        {"op": "add", "album": "al-1", "position": 0},
        {"op": "move", "entry": "e-1", "to": 2, "version": 4},
        {"op": "set_repeat", "repeat": "all"},
        {"op": "set_volume", "volume": 40},
        {"op": "set_output", "output": "local"},
        {"op": "seek", "position_ms": 61000},
        {"op": "remove", "entries": ["e-2", "e-3"]},
    ]
    put("queue_socket", "ops", b"".join(ws_frame(json.dumps(o)) for o in ops))
    player = [{"type": "register_player", "name": "Kitchen tablet"}, {"type": "position", "position_ms": 1500},
              {"type": "ended"}, {"type": "dance"}]
    put("queue_socket", "player", b"".join(ws_frame(json.dumps(o)) for o in player))
    body = json.dumps({"op": "clear", "version": 1})
    fragments = ws_frame(body[:5], opcode=1, fin=False) + ws_frame(b"hi", opcode=9) + ws_frame(body[5:], opcode=0)
    put("queue_socket", "fragments", fragments + ws_frame(b"", opcode=10) + ws_frame(struct.pack(">H", 1000), opcode=8))
    put("queue_socket", "binary", ws_frame(b"\x00\x01", opcode=2) + ws_frame("not json"))


def ssdp():
    put("ssdp", "alive", "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\n"
        "LOCATION: http://192.168.1.20:49494/description.xml\r\nNT: urn:schemas-upnp-org:device:MediaRenderer:1\r\n"
        "NTS: ssdp:alive\r\nSERVER: Linux/5 UPnP/1.0 GMediaRender/0.0.9\r\nUSN: uuid:abc-1::urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n")
    put("ssdp", "byebye", "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: urn:schemas-upnp-org:device:MediaRenderer:1\r\n"
        "NTS: ssdp:byebye\r\nUSN: uuid:abc-1::urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n")
    put("ssdp", "answer", "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age = 1800\r\nEXT:\r\nST: urn:schemas-upnp-org:device:MediaRenderer:1\r\n"
        "LOCATION: http://192.168.1.20:80/d.xml\r\nUSN: uuid:x::urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n")
    put("ssdp", "search", "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: ssdp:all\r\n\r\n")


DESCRIPTION = """<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <URLBase>http://192.168.1.20:49152/</URLBase>
  <device>
    <deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>
    <friendlyName>Kitchen &amp; Hall</friendlyName>
    <manufacturer>Acme</manufacturer>
    <modelName>Box 2</modelName>
    <UDN>uuid:abc-1</UDN>
    <serviceList>
      <service>
        <serviceType>urn:schemas-upnp-org:service:AVTransport:1</serviceType>
        <controlURL>/upnp/control/rendertransport1</controlURL>
        <eventSubURL>upnp/event/rendertransport1</eventSubURL>
      </service>
      <service>
        <serviceType>urn:schemas-upnp-org:service:RenderingControl:1</serviceType>
        <controlURL>http://10.0.0.9/evil</controlURL>
      </service>
      <service>
        <serviceType>urn:schemas-upnp-org:service:ConnectionManager:1</serviceType>
        <controlURL>/cm</controlURL>
      </service>
    </serviceList>
    <deviceList><device><deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType><UDN>uuid:abc-2</UDN></device></deviceList>
  </device>
</root>"""


def upnp_description():
    put("upnp_description", "renderer.xml", DESCRIPTION)
    put("upnp_description", "doctype.xml", '<?xml version="1.0"?><!DOCTYPE root [<!ENTITY a "aaaaaaaa">]><root><device><friendlyName>&a;&a;</friendlyName></device></root>')


def txt(pairs):
    out = b""
    for p in pairs:
        p = p.encode()
        out += bytes([len(p)]) + p
    return out


def mdns_txt():
    put("mdns_txt", "cast", b"\x00Living-Room-TV-4f1c\x00" + txt(["id=4f1c", "md=Chromecast", "fn=Living Room TV", "ca=4101", "st=0"]))
    put("mdns_txt", "raop", b"\x01AABBCCDDEEFF@Kitchen\x00" + txt(["txtvers=1", "ch=2", "cn=0,1,2,3", "et=0,3,5", "md=0,1,2", "pw=false", "sr=44100", "ss=16", "tp=UDP", "am=AirPort10,115"]))
    put("mdns_txt", "raop-locked", b"\x01112233445566@Study\x00" + txt(["pw=true", "et=1", "cn=0", "tp=TCP"]))
    put("mdns_txt", "airplay2", b"\x02Bedroom\x00" + txt(["deviceid=AA:BB:CC:DD:EE:01", "model=AudioAccessory5,1", "features=0x445F8A00,0x1C340", "flags=0x4"]))


def gena_event():
    put("gena_event", "paused.xml", """<?xml version="1.0"?>
<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><LastChange>&lt;Event xmlns=&quot;urn:schemas-upnp-org:metadata-1-0/AVT/&quot;&gt;&lt;InstanceID val=&quot;0&quot;&gt;&lt;TransportState val=&quot;PAUSED_PLAYBACK&quot;/&gt;&lt;CurrentTrackURI val=&quot;http://192.168.1.2:4545/api/stream/tr-1&quot;/&gt;&lt;/InstanceID&gt;&lt;/Event&gt;</LastChange></e:property></e:propertyset>""")
    put("gena_event", "cdata.xml", """<?xml version="1.0" encoding="utf-8"?>
<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><LastChange><![CDATA[<Event><InstanceID val="0"><TransportState val="PLAYING"/></InstanceID></Event>]]></LastChange></e:property><e:property><Volume>20</Volume></e:property></e:propertyset>""")
    put("gena_event", "timeout", "Second-1800\n<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\"/>")


def podcast_feed():
    for name in sorted(os.listdir(os.path.join(FIXTURES, "podcasts"))):
        with open(os.path.join(FIXTURES, "podcasts", name), "rb") as f:
            put("podcast_feed", name, small(f.read()))


def raop_answer():
    put("raop_answer", "setup", "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: ANNOUNCE, SETUP, RECORD, PAUSE, FLUSH, TEARDOWN, OPTIONS, GET_PARAMETER, SET_PARAMETER\r\n\r\n"
        "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 0\r\n\r\n"
        "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1;timeout=60\r\nTransport: RTP/AVP/UDP;unicast;mode=record;server_port=6000;control_port=6001;timing_port=6002\r\nAudio-Jack-Status: connected; type=analog\r\n\r\n")
    put("raop_answer", "body", "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: text/parameters\r\nContent-Length: 12\r\n\r\nvolume: -15\n")
    put("raop_answer", "refused", "RTSP/1.0 453 Not Enough Bandwidth\r\nCSeq: 4\r\n\r\n")
    put("raop_answer", "timing", bytes([0x80, 0xd2, 0x00, 0x07]) + bytes(28))
    put("raop_answer", "resend", bytes([0x80, 0xd5, 0x00, 0x01, 0x00, 0x10, 0x00, 0x05]))


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7f) | 0x80])
        v >>= 7
    return out + bytes([v])


def cast_frame(source, destination, namespace, payload):
    body = b"\x08\x00"
    for field, text in [(2, source), (3, destination), (4, namespace)]:
        t = text.encode()
        body += varint(field << 3 | 2) + varint(len(t)) + t
    body += b"\x28\x00"
    p = json.dumps(payload).encode()
    body += varint(6 << 3 | 2) + varint(len(p)) + p
    return struct.pack(">I", len(body)) + body


def cast_message():
    receiver = "urn:x-cast:com.google.cast.receiver"
    media = "urn:x-cast:com.google.cast.media"
    heartbeat = "urn:x-cast:com.google.cast.tp.heartbeat"
    status = {"type": "RECEIVER_STATUS", "requestId": 1, "status": {"applications": [
        {"appId": "CC1AD845", "displayName": "Default Media Receiver", "sessionId": "s-1", "transportId": "web-5"}],
        "volume": {"level": 0.5, "muted": False}}}
    put("cast_message", "receiver", cast_frame("receiver-0", "sender-0", receiver, status))
    playing = {"type": "MEDIA_STATUS", "requestId": 0, "status": [{"mediaSessionId": 1, "playerState": "PLAYING", "currentTime": 12.5}]}
    idle = {"type": "MEDIA_STATUS", "status": [{"mediaSessionId": 1, "playerState": "IDLE", "idleReason": "FINISHED"}]}
    put("cast_message", "media", cast_frame("web-5", "sender-0", media, playing) + cast_frame("web-5", "sender-0", media, idle))
    put("cast_message", "ping", cast_frame("receiver-0", "sender-0", heartbeat, {"type": "PING"}))
    put("cast_message", "close", cast_frame("web-5", "sender-0", "urn:x-cast:com.google.cast.tp.connection", {"type": "CLOSE"}))
    put("cast_message", "refused", cast_frame("web-5", "sender-0", media, {"type": "LOAD_FAILED", "reason": "INVALID_REQUEST", "requestId": 3}))


def scrobble_answer():
    put("scrobble_answer", "lb-ok", '200\r\nContent-Type: application/json\r\n\r\n{"status": "ok"}')
    put("scrobble_answer", "lb-token", '200\r\n\r\n{"code": 200, "message": "Token valid.", "valid": true, "user_name": "anna"}')
    put("scrobble_answer", "lb-slow", '429\r\nX-RateLimit-Reset-In: 12\r\nRetry-After: 30\r\n\r\n{"code": 429, "error": "Too many requests"}')
    put("scrobble_answer", "lfm-session", '200\r\n\r\n{"session": {"name": "anna", "key": "d580d57f32848f5dcf574d1ce18d78b2", "subscriber": 0}}')
    put("scrobble_answer", "lfm-scrobbles", '200\r\n\r\n{"scrobbles": {"@attr": {"accepted": 1, "ignored": 0}, "scrobble": {"track": {"#text": "Sunny"}}}}')
    put("scrobble_answer", "lfm-error", '403\r\n\r\n{"error": 9, "message": "Invalid session key - Please re-authenticate"}')
    put("scrobble_answer", "portal", "200\r\nContent-Type: text/html\r\n\r\n<html>Sign in to the hotel Wi-Fi</html>")


if __name__ == "__main__":
    for make in [tags, m3u, lrc, subsonic_params, api_json, queue_socket, ssdp, upnp_description, mdns_txt,
                 gena_event, podcast_feed, raop_answer, cast_message, scrobble_answer]:
        make()
