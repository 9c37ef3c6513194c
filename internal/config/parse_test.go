package config

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid config; cases below add to it. It is three
// lines long, so a key added after it sits on line 4.
const minimal = `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms: [{number: "1001"}]
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "vmrd.yaml")
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	if cfg == nil {
		t.Fatal("Parse: nil config without error")
	}
	return cfg
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{
			name: "empty file",
			src:  "",
			want: "vmrd.yaml: the file is empty; configs/vmrd.yaml is a documented sample to start from",
		},
		{
			name: "only comments",
			src:  "# nothing yet\n\n",
			want: "vmrd.yaml: the file is empty; configs/vmrd.yaml is a documented sample to start from",
		},
		{
			name: "unknown key at top level",
			src:  minimal + "bogus: 1\n",
			want: "vmrd.yaml:4: bogus: unknown key; the top level takes sip, media, http, log, audio, video, security, audit, api, rooms, webrtc",
		},
		{
			name: "unknown nested key",
			src:  minimal + "log:\n  level: info\n  colour: red\n",
			want: "vmrd.yaml:6: log.colour: unknown key; log takes level, format",
		},
		{
			name: "misspelled key",
			src: `sip:
  listn: ["udp:127.0.0.1:5060"]
media: {rtp_ports: "40000-40999"}
rooms: [{number: "1001"}]
`,
			want: "vmrd.yaml:2: sip.listn: unknown key; did you mean listen?",
		},
		{
			name: "key in another case",
			src:  minimal + "http: {Listen: \"127.0.0.1:8080\"}\nsip2: 1\n",
			want: "vmrd.yaml:4: http.Listen: unknown key; did you mean listen?\n" +
				"vmrd.yaml:5: sip2: unknown key; did you mean sip?",
		},
		{
			name: "unknown key without a near miss",
			src:  minimal + "audio:\n  codecs: [opus]\n  codec_list: [opus]\n",
			want: "vmrd.yaml:6: audio.codec_list: unknown key; audio takes codecs",
		},
		{
			name: "key spelled with a hyphen",
			src:  "sip:\n  listen: [\"udp:127.0.0.1:5060\"]\n  user-agent: x\nmedia: {rtp_ports: \"40000-40999\"}\nrooms: [{number: \"1001\"}]\n",
			want: "vmrd.yaml:3: sip.user-agent: unknown key; did you mean user_agent?",
		},
		{
			name: "misspelled room key",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    nmae: "Konsultasjon 1"
  - number: "1002"
    max_participant: 3
    pin: "1234"
`,
			want: "vmrd.yaml:5: rooms[0].nmae: unknown key; did you mean name?\n" +
				"vmrd.yaml:7: rooms[1].max_participant: unknown key; did you mean max_participants?\n" +
				"vmrd.yaml:8: rooms[1].pin: unknown key; did you mean host_pin? it holds a hash from `vmrd hash-pin`, not the PIN itself",
		},
		{
			name: "key in the wrong section",
			src:  minimal + "rtp_ports: \"40000-40999\"\nmax_participants: 3\nlisten: x\n",
			want: "vmrd.yaml:4: rtp_ports: unknown key here; did you mean media.rtp_ports? move it under media:\n" +
				"vmrd.yaml:5: max_participants: unknown key here; did you mean rooms[].max_participants? move it into an entry under rooms:\n" +
				"vmrd.yaml:6: listen: unknown key here; did you mean sip.listen or http.listen?",
		},
		{
			name: "prefix of two keys",
			src:  "sip: {listen: [\"udp:127.0.0.1:5060\"]}\nrooms: [{number: \"1001\"}]\nmedia:\n  rtp_ports: \"40000-40999\"\n  jitter: 20ms\n",
			want: "vmrd.yaml:5: media.jitter: unknown key; did you mean jitter_min or jitter_max?",
		},
		{
			name: "missing required keys name the parent's line",
			src:  "log: {level: info}\nsip:\n  user_agent: x\nmedia:\n  bind_ip: 0.0.0.0\n",
			want: `vmrd.yaml:1: rooms: no rooms configured; add at least one under rooms:, e.g. - number: "1001"` + "\n" +
				`vmrd.yaml:2: sip.listen: missing; add it under sip:, e.g. listen: ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]` + "\n" +
				`vmrd.yaml:4: media.rtp_ports: missing; add it under media:, e.g. rtp_ports: "40000-40999"`,
		},
		{
			name: "empty lists",
			src:  "sip: {listen: []}\nmedia: {rtp_ports: \"40000-40999\"}\nrooms: []\naudio: {codecs: []}\n",
			want: `vmrd.yaml:1: sip.listen: empty list; add at least one address, e.g. ["udp:0.0.0.0:5060"]` + "\n" +
				`vmrd.yaml:3: rooms: no rooms configured; add at least one under rooms:, e.g. - number: "1001"` + "\n" +
				"vmrd.yaml:4: audio.codecs: empty list; list at least one of opus, G722, PCMU or PCMA",
		},
		{
			name: "wrong types",
			src: `sip:
  listen: "udp:127.0.0.1:5060"
  user_agent: [a, b]
media: 5
log:
  level: {a: b}
rooms:
  "1001": {name: x}
`,
			want: `vmrd.yaml:2: sip.listen: expected a list, got "udp:127.0.0.1:5060"; write it as ["udp:127.0.0.1:5060"]` + "\n" +
				"vmrd.yaml:3: sip.user_agent: expected a single value, got a list\n" +
				"vmrd.yaml:4: media: expected indented key: value lines, got 5\n" +
				"vmrd.yaml:6: log.level: expected a single value, got a mapping (key: value lines)\n" +
				"vmrd.yaml:8: rooms: expected a list (lines starting with -), got a mapping (key: value lines)",
		},
		{
			name: "wrong number types",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1"
    max_participants: "5"
  - number: "2"
    max_participants: 2.5
  - number: "3"
    max_participants: [1]
  - number: "4"
    max_participants: 99999999999999999999
`,
			want: `vmrd.yaml:5: rooms[0].max_participants: expected a whole number, got "5"; remove the quotes` + "\n" +
				"vmrd.yaml:7: rooms[1].max_participants: expected a whole number, got 2.5\n" +
				"vmrd.yaml:9: rooms[2].max_participants: expected a whole number, got a list\n" +
				"vmrd.yaml:11: rooms[3].max_participants: 99999999999999999999 is too large",
		},
		{
			name: "top level is not a mapping",
			src:  "- sip\n- media\n",
			want: "vmrd.yaml:1: expected sections such as sip:, media: and rooms: at the top level, got a list",
		},
		{
			name: "bad listen strings",
			src: `sip:
  listen:
    - "udp:127.0.0.1"
    - "tcp:localhost:5060"
    - "tls:127.0.0.1:5061"
    - "127.0.0.1:5060"
    - "sctp:127.0.0.1:5060"
    - "udp:::1:5060"
    - "udp:[::1]"
    - "udp:127.0.0.1:0"
    - "tcp:127.0.0.1:http"
    - "udp::5060"
    - ""
media: {rtp_ports: "40000-40999"}
rooms: [{number: "1001"}]
`,
			want: `vmrd.yaml:3: sip.listen[0]: "udp:127.0.0.1" has no port; write it as udp:ADDR:PORT, e.g. udp:0.0.0.0:5060` + "\n" +
				`vmrd.yaml:4: sip.listen[1]: "tcp:localhost:5060" has "localhost", which is not an IP address; vmrd listens on IP addresses only (IPv4, or IPv6 in brackets), e.g. tcp:127.0.0.1:5060` + "\n" +
				`vmrd.yaml:5: sip.listen[2]: "tls:127.0.0.1:5061" needs a certificate; set sip.tls.cert_file and sip.tls.key_file (PEM files)` + "\n" +
				`vmrd.yaml:6: sip.listen[3]: "127.0.0.1:5060" has no transport; write it as udp:ADDR:PORT or tcp:ADDR:PORT, e.g. udp:0.0.0.0:5060` + "\n" +
				`vmrd.yaml:7: sip.listen[4]: "sctp:127.0.0.1:5060": unknown transport "sctp"; use udp, tcp or tls` + "\n" +
				`vmrd.yaml:8: sip.listen[5]: "udp:::1:5060" needs brackets around the IPv6 address; write it as udp:[ADDR]:PORT, e.g. udp:[::1]:5060` + "\n" +
				`vmrd.yaml:9: sip.listen[6]: "udp:[::1]" has no port; write it as udp:ADDR:PORT, e.g. udp:0.0.0.0:5060` + "\n" +
				`vmrd.yaml:10: sip.listen[7]: "udp:127.0.0.1:0" has port "0"; use a port from 1 to 65535` + "\n" +
				`vmrd.yaml:11: sip.listen[8]: "tcp:127.0.0.1:http" has port "http"; use a port from 1 to 65535` + "\n" +
				`vmrd.yaml:12: sip.listen[9]: "udp::5060" has no address; write 0.0.0.0 for all IPv4 addresses, e.g. udp:0.0.0.0:5060` + "\n" +
				`vmrd.yaml:13: sip.listen[10]: empty; write it as udp:ADDR:PORT or tcp:ADDR:PORT, e.g. udp:0.0.0.0:5060`,
		},
		{
			name: "duplicate listener after normalizing",
			src:  "sip: {listen: [\"udp:127.0.0.1:5060\", \"tcp:127.0.0.1:5060\", \"UDP:127.0.0.1:5060\"]}\nmedia: {rtp_ports: \"40000-40999\"}\nrooms: [{number: \"1001\"}]\n",
			want: `vmrd.yaml:1: sip.listen[2]: "UDP:127.0.0.1:5060" repeats sip.listen[0]; remove one`,
		},
		{
			name: "bad port ranges",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
rooms: [{number: "1001"}]
media:
  rtp_ports: 40001-40999
`,
			want: `vmrd.yaml:4: media.rtp_ports: "40001-40999" starts at an odd port; RTP uses even ports and RTCP the odd port above (RFC 3550 11), so start at an even one, e.g. "40000-40999"`,
		},
		{
			name: "duplicate room number",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
  - number: "1002"
  - number: 1001
`,
			want: `vmrd.yaml:6: rooms[2].number: "1001" is already the number of rooms[0] (line 4); give each room its own number`,
		},
		{
			name: "room numbers",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: 0123
  - number: "12a"
  - number: 1e3
  - number: true
  - number: "123456789012345678901234567890123"
  - name: "no number"
  - number: [1]
`,
			want: `vmrd.yaml:4: rooms[0].number: 0123 starts with 0, and YAML reads such numbers as octal; quote it: number: "0123"` + "\n" +
				`vmrd.yaml:5: rooms[1].number: "12a" is not a room number; use 1 to 32 digits and nothing else, e.g. "1001"` + "\n" +
				`vmrd.yaml:6: rooms[2].number: 1e3 is not a room number; write digits only, e.g. "1001"` + "\n" +
				`vmrd.yaml:7: rooms[3].number: true is not a room number; write digits only, e.g. "1001"` + "\n" +
				`vmrd.yaml:8: rooms[4].number: "123456789012345678901234567890123" is not a room number; use 1 to 32 digits and nothing else, e.g. "1001"` + "\n" +
				`vmrd.yaml:9: rooms[5].number: missing; every room needs a number, e.g. number: "1001"` + "\n" +
				`vmrd.yaml:10: rooms[6].number: expected a room number such as "1001", got a list`,
		},
		{
			name: "bad codec names",
			src:  minimal + "audio:\n  codecs: [opus, g729, pcmu, PCMU, G.722, \"\"]\n",
			want: `vmrd.yaml:5: audio.codecs[1]: "g729" is not a codec vmrd speaks; use opus, G722, PCMU or PCMA` + "\n" +
				"vmrd.yaml:5: audio.codecs[3]: PCMU repeats audio.codecs[2]; remove one\n" +
				`vmrd.yaml:5: audio.codecs[5]: "" is not a codec vmrd speaks; use opus, G722, PCMU or PCMA`,
		},
		{
			name: "room codecs",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    codecs: []
  - number: "1002"
    codecs: [speex]
`,
			want: "vmrd.yaml:5: rooms[0].codecs: empty list; list codecs, or remove the key to use audio.codecs\n" +
				`vmrd.yaml:7: rooms[1].codecs[0]: "speex" is not a codec vmrd speaks; use opus, G722, PCMU or PCMA`,
		},
		{
			name: "max_participants out of range",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    max_participants: 0
  - number: "1002"
    max_participants: 101
  - number: "1003"
    max_participants: -1
`,
			want: "vmrd.yaml:5: rooms[0].max_participants: 0 is out of range; use 1 to 100 (the most one room holds)\n" +
				"vmrd.yaml:7: rooms[1].max_participants: 101 is out of range; use 1 to 100 (the most one room holds)\n" +
				"vmrd.yaml:9: rooms[2].max_participants: -1 is out of range; use 1 to 100 (the most one room holds)",
		},
		{
			name: "bad durations",
			src: `sip:
  listen: ["udp:127.0.0.1:5060"]
  no_rtp_timeout: thirty
  session_expires: 1800
  min_se: [90s]
media:
  rtp_ports: "40000-40999"
  jitter_min: 1.5
  jitter_max: 1m
rooms: [{number: "1001"}]
`,
			want: `vmrd.yaml:3: sip.no_rtp_timeout: "thirty" is not a duration; write it like 30s, 500ms or 1m30s` + "\n" +
				"vmrd.yaml:4: sip.session_expires: 1800 has no unit; write 1800s for seconds or 1800ms for milliseconds\n" +
				"vmrd.yaml:5: sip.min_se: expected a duration, got a list; write it like 30s, 500ms or 1m30s\n" +
				"vmrd.yaml:8: media.jitter_min: expected a duration, got 1.5; write it like 30s, 500ms or 1m30s",
		},
		{
			name: "durations out of range",
			src: `sip:
  listen: ["udp:127.0.0.1:5060"]
  no_rtp_timeout: 2s
  session_expires: 60s
  min_se: 60s
media:
  rtp_ports: "40000-40999"
  jitter_min: 300ms
  jitter_max: 200ms
rooms: [{number: "1001"}]
`,
			want: "vmrd.yaml:3: sip.no_rtp_timeout: 2s is too short, calls would drop on brief network stalls; use at least 5s, or 0 to disable\n" +
				"vmrd.yaml:5: sip.min_se: 60s is below 90s, the smallest Min-SE RFC 4028 allows; use 90s or more\n" +
				"vmrd.yaml:8: media.jitter_min: 300ms is above media.jitter_max (200ms); lower jitter_min or raise jitter_max",
		},
		{
			name: "session timer rules",
			src: `sip:
  listen: ["udp:127.0.0.1:5060"]
  no_rtp_timeout: -1s
  session_expires: 100s
  min_se: 120s
media:
  rtp_ports: "40000-40999"
  jitter_min: -1ms
  jitter_max: -2ms
rooms: [{number: "1001"}]
`,
			want: "vmrd.yaml:3: sip.no_rtp_timeout: -1s is negative; use at least 5s, or 0 to never hang up on silence\n" +
				"vmrd.yaml:4: sip.session_expires: 100s is shorter than sip.min_se (120s); use at least 120s\n" +
				"vmrd.yaml:8: media.jitter_min: -1ms is negative; use 0 or more, e.g. 20ms\n" +
				"vmrd.yaml:9: media.jitter_max: -2ms is negative; use 0 or more, e.g. 200ms",
		},
		{
			name: "session timers in whole seconds",
			src: `sip:
  listen: ["udp:127.0.0.1:5060"]
  session_expires: 1800500ms
  min_se: 0s
media: {rtp_ports: "40000-40999"}
rooms: [{number: "1001"}]
`,
			want: "vmrd.yaml:3: sip.session_expires: 30m0.5s is not a whole number of seconds, which SIP carries; e.g. 1800s\n" +
				"vmrd.yaml:4: sip.min_se: 0s must be positive, e.g. 90s",
		},
		{
			name: "log level and format",
			src:  minimal + "log:\n  level: verbose\n  format: xml\n",
			want: `vmrd.yaml:5: log.level: "verbose" is not a log level; use debug, info, warn or error` + "\n" +
				`vmrd.yaml:6: log.format: "xml" is not a log format; use text or json`,
		},
		{
			name: "addresses",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
rooms: [{number: "1001"}]
http: {listen: "localhost:8080"}
media:
  rtp_ports: "40000-40999"
  bind_ip: "localhost"
  public_ip: "0.0.0.0"
`,
			want: `vmrd.yaml:3: http.listen: "localhost:8080" has "localhost", which is not an IP address; vmrd listens on IP addresses only (IPv4, or IPv6 in brackets), e.g. 127.0.0.1:8080; or "" to turn HTTP off` + "\n" +
				`vmrd.yaml:6: media.bind_ip: "localhost" is not an IP address; write an IPv4 or IPv6 address, e.g. 0.0.0.0 for all IPv4 addresses` + "\n" +
				"vmrd.yaml:7: media.public_ip: 0.0.0.0 cannot be written into SDP as where to send media; write the address callers reach this host at, or remove the key",
		},
		{
			name: "http listen without address",
			src:  minimal + "http: {listen: \":8080\"}\nmedia2: {public_ip: x}\n",
			want: `vmrd.yaml:4: http.listen: ":8080" has no address; write 0.0.0.0 for all IPv4 addresses, e.g. 0.0.0.0:8080; or "" to turn HTTP off` + "\n" +
				"vmrd.yaml:5: media2: unknown key; did you mean media?",
		},
		{
			name: "user agent with a line break",
			src:  "sip:\n  listen: [\"udp:127.0.0.1:5060\"]\n  user_agent: \"vmrd\\r\\nX-Evil: 1\"\n" + "media: {rtp_ports: \"40000-40999\"}\nrooms: [{number: \"1001\", name: \"a\\tb\"}]\n",
			want: "vmrd.yaml:3: sip.user_agent: contains a control character (such as a line break); use printable text\n" +
				"vmrd.yaml:5: rooms[0].name: contains a control character (such as a line break); use printable text",
		},
		{
			name: "syntax error with line",
			src:  minimal + "log:\n  level: info\n format: text\n",
			want: "vmrd.yaml:6: YAML syntax error at or below this line: did not find expected key; check the indentation and brackets",
		},
		{
			name: "syntax error in a flow list",
			src:  "sip:\n  listen: [\"udp:127.0.0.1:5060\"\nmedia: {}\n",
			want: "vmrd.yaml:2: YAML syntax error at or below this line: did not find expected ',' or ']'; check the indentation and brackets",
		},
		{
			name: "syntax error on the first line",
			src:  "sip: listen: x\n",
			want: "vmrd.yaml:1: YAML syntax error: mapping values are not allowed in this context",
		},
		{
			name: "tab indentation",
			src:  "sip:\n\tlisten: [\"udp:127.0.0.1:5060\"]\n",
			want: "vmrd.yaml:2: YAML syntax error: found character that cannot start any token; this line is indented with a tab, and YAML takes spaces only",
		},
		{
			name: "bad UTF-8",
			src:  "sip: \xff\n",
			want: "vmrd.yaml: YAML syntax error: invalid leading UTF-8 octet",
		},
		{
			name: "unknown anchor",
			src:  minimal + "log:\n  level: *lvl\n",
			want: "vmrd.yaml:5: YAML syntax error: unknown anchor 'lvl' referenced",
		},
		{
			name: "explicit tags",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: !!str 0123
    max_participants: !!int many
`,
			want: "vmrd.yaml:5: rooms[0].max_participants: expected a whole number, got many",
		},
		{
			name: "two documents",
			src:  minimal + "---\nlog: {level: info}\n",
			want: "vmrd.yaml:5: a second YAML document starts here; vmrd reads one document per file, so remove the --- line and merge the two",
		},
		{
			name: "alias loop",
			src:  minimal + "audio: {codecs: [opus]}\nhttp: &h {<<: *h}\n",
			want: "vmrd.yaml:5: http: a YAML alias here refers to the mapping that contains it; remove the loop",
		},
		{
			name: "non-scalar key",
			src:  minimal + "log: {[a]: b}\n",
			want: "vmrd.yaml:4: log: a key must be a plain name, got a list",
		},
		{
			name: "open room with a PIN",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    host_pin: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
`,
			want: "vmrd.yaml:4: rooms[0].type: an open room has no PINs; set type: pin (or autolock), or remove host_pin and guest_pin",
		},
		{
			name: "pin room without host PIN",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    type: autolock
`,
			want: "vmrd.yaml:4: rooms[0].host_pin: missing; a autolock room needs a host PIN hash: run `vmrd hash-pin` and paste its output",
		},
		{
			name: "plain PIN refused",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    type: pin
    host_pin: "1234"
`,
			want: "vmrd.yaml:6: rooms[0].host_pin: invalid PIN hash: this is a plain PIN; store the hash that 'vmrd hash-pin' prints instead (plain PINs are refused so that they never sit in a file)",
		},
		{
			name: "bad room type and language",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    type: secret
    language: de
`,
			want: "vmrd.yaml:5: rooms[0].type: \"secret\" is not a room type; use open, pin, autolock or large\nvmrd.yaml:6: rooms[0].language: \"de\" is not a prompt language; use nb (Norwegian bokmål) or en",
		},
		{
			name: "guest PIN without guests",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: "1001"
    type: pin
    host_pin: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
    guest_pin: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFyaGhhc2hoYXNoaGFyaGhhc2hoYXNoaGFyaGhhc2g"
    guests_allowed: false
`,
			want: "vmrd.yaml:7: rooms[0].guest_pin: a guest PIN with guests_allowed: false can never be used; remove one of them",
		},
		{
			name: "security limits",
			src: `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
security:
  unknown_rooms: hide
  pin:
    room_failures: 0
    allow_sources: ["10.0.0.0/8", "not-an-ip"]
rooms:
  - number: "1001"
`,
			want: "vmrd.yaml:4: security.unknown_rooms: \"hide\" is not a choice; use pin (answer like a PIN room, the default) or reject (404)\nvmrd.yaml:6: security.pin.room_failures: 0 is out of range; use 1 to 10000 (default 20)\nvmrd.yaml:7: security.pin.allow_sources[1]: \"not-an-ip\" is not an address or CIDR prefix; write e.g. 10.0.0.0/8 or 192.0.2.7",
		},
		{
			name: "limit rates are numbers",
			src: `sip:
  listen: ["udp:127.0.0.1:5060"]
  limits: {invite_rate: fast, options_rate: 2.5, request_rate: 0}
media: {rtp_ports: "40000-40999"}
rooms: [{number: "1001"}]
`,
			want: "vmrd.yaml:3: sip.limits.invite_rate: expected a number such as 5 or 2.5, got \"fast\"\n" +
				"vmrd.yaml:3: sip.limits.request_rate: 0 is out of range; use more than 0 and at most 100000 requests a second per source",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.src), "vmrd.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded, want error:\n%s", tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error:\n got: %s\nwant: %s", got, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false")
			}
		})
	}
}

func TestSeveralErrorsAtOnce(t *testing.T) {
	src := `sip:
  listen: ["udp:127.0.0.1"]
  min_se: 10s
media:
  rtp_ports: "40000-40001"
log:
  levle: debug
rooms:
  - number: "1001"
    max_participants: 500
  - number: "1001"
`
	_, err := Parse([]byte(src), "/etc/vmrd/vmrd.yaml")
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse error %v (%T), want *Error", err, err)
	}
	want := []Problem{
		{File: "/etc/vmrd/vmrd.yaml", Line: 2, Key: "sip.listen[0]", Msg: `"udp:127.0.0.1" has no port; write it as udp:ADDR:PORT, e.g. udp:0.0.0.0:5060`},
		{File: "/etc/vmrd/vmrd.yaml", Line: 3, Key: "sip.min_se", Msg: "10s is below 90s, the smallest Min-SE RFC 4028 allows; use 90s or more"},
		{File: "/etc/vmrd/vmrd.yaml", Line: 5, Key: "media.rtp_ports", Msg: `"40000-40001" holds only 2 ports; give at least 4, e.g. "40000-40999"`},
		{File: "/etc/vmrd/vmrd.yaml", Line: 7, Key: "log.levle", Msg: "unknown key; did you mean level?"},
		{File: "/etc/vmrd/vmrd.yaml", Line: 10, Key: "rooms[0].max_participants", Msg: "500 is out of range; use 1 to 100 (the most one room holds)"},
		{File: "/etc/vmrd/vmrd.yaml", Line: 11, Key: "rooms[1].number", Msg: `"1001" is already the number of rooms[0] (line 9); give each room its own number`},
	}
	if !slices.Equal(cerr.Problems, want) {
		t.Errorf("problems:\n got: %#v\nwant: %#v", cerr.Problems, want)
	}
	if !strings.HasPrefix(err.Error(), `/etc/vmrd/vmrd.yaml:2: sip.listen[0]: "udp:127.0.0.1" has no port`) {
		t.Errorf("Error() = %q, want it to start with the first problem", err.Error())
	}
	if n := strings.Count(err.Error(), "\n"); n != len(want)-1 {
		t.Errorf("Error() has %d lines, want %d", n+1, len(want))
	}
}

func TestPortRanges(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		errMsg string
	}{
		{in: "40000-40999", lo: 40000, hi: 40999},
		{in: "1026-1029", lo: 1026, hi: 1029},
		{in: "65532-65535", lo: 65532, hi: 65535},
		{in: " 20000 - 20010 ", lo: 20000, hi: 20010},
		{in: "40000", errMsg: `"40000" is not a port range; write it as MIN-MAX, e.g. "40000-40999"`},
		{in: "a-b", errMsg: `"a-b" is not a port range; write it as MIN-MAX, e.g. "40000-40999"`},
		{in: "-1-5", errMsg: `"-1-5" is not a port range; write it as MIN-MAX, e.g. "40000-40999"`},
		{in: "1024-2000", errMsg: `"1024-2000" starts at 1024; start above 1024 (lower ports need root), e.g. "40000-40999"`},
		{in: "60000-70000", errMsg: `"60000-70000" ends above 65535, the highest port; e.g. "40000-40999"`},
		{in: "40999-40000", errMsg: `"40999-40000": MIN must be below MAX, e.g. "40000-40999"`},
		{in: "40000-40000", errMsg: `"40000-40000": MIN must be below MAX, e.g. "40000-40999"`},
		{in: "40001-40999", errMsg: `"40001-40999" starts at an odd port; RTP uses even ports and RTCP the odd port above (RFC 3550 11), so start at an even one, e.g. "40000-40999"`},
		{in: "40000-40002", errMsg: `"40000-40002" holds only 3 ports; give at least 4, e.g. "40000-40999"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			lo, hi, err := ParsePortRange(tt.in)
			if tt.errMsg != "" {
				if err == nil || err.Error() != tt.errMsg {
					t.Fatalf("ParsePortRange(%q) error = %v, want %q", tt.in, err, tt.errMsg)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error does not match ErrInvalid")
				}
				return
			}
			if err != nil || lo != tt.lo || hi != tt.hi {
				t.Fatalf("ParsePortRange(%q) = %d, %d, %v; want %d, %d", tt.in, lo, hi, err, tt.lo, tt.hi)
			}
			m := Media{RTPPorts: tt.in}
			if lo, hi := m.PortRange(); lo != tt.lo || hi != tt.hi {
				t.Errorf("PortRange() = %d, %d", lo, hi)
			}
		})
	}
	if lo, hi := (Media{RTPPorts: "x"}).PortRange(); lo != 0 || hi != 0 {
		t.Errorf("PortRange of a bad range = %d, %d, want 0, 0", lo, hi)
	}
}

func TestParseListener(t *testing.T) {
	tests := []struct {
		in   string
		want Listener
	}{
		{"udp:127.0.0.1:5060", Listener{"udp", "127.0.0.1:5060"}},
		{"TCP:0.0.0.0:5080", Listener{"tcp", "0.0.0.0:5080"}},
		{"udp:[::1]:5060", Listener{"udp", "[::1]:5060"}},
		{"udp:[2001:DB8::0001]:5060", Listener{"udp", "[2001:db8::1]:5060"}},
		{"udp:[::ffff:192.0.2.1]:5060", Listener{"udp", "192.0.2.1:5060"}},
		{"tcp:10.0.0.1:65535", Listener{"tcp", "10.0.0.1:65535"}},
		{"udp:10.0.0.1:05060", Listener{"udp", "10.0.0.1:5060"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseListener(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseListener(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.want.Transport+":"+tt.want.Addr {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
	if l, err := ParseListener("tls:127.0.0.1:5061"); err != nil || l.Transport != TransportTLS {
		t.Errorf("tls listener: %+v, %v", l, err)
	}
	if _, err := ParseListener("udp:1.2.3.4"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad listener error %v should match ErrInvalid only", err)
	}
	s := SIP{Listen: []string{"udp:127.0.0.1:5060", "bad", "tcp:[::1]:5061"}}
	want := []Listener{{"udp", "127.0.0.1:5060"}, {"tcp", "[::1]:5061"}}
	if got := s.Listeners(); !slices.Equal(got, want) {
		t.Errorf("Listeners() = %+v, want %+v", got, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, minimal)
	if cfg.SIP.UserAgent != "" {
		t.Errorf("user_agent = %q, want empty (the caller fills in vmrd/<version>)", cfg.SIP.UserAgent)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"sip.no_rtp_timeout", cfg.SIP.NoRTPTimeout, 30 * time.Second},
		{"sip.session_expires", cfg.SIP.SessionExpires, 1800 * time.Second},
		{"sip.min_se", cfg.SIP.MinSE, 90 * time.Second},
		{"media.bind_ip", cfg.Media.BindIP, "0.0.0.0"},
		{"media.public_ip", cfg.Media.PublicIP, ""},
		{"media.jitter_min", cfg.Media.JitterMin, 20 * time.Millisecond},
		{"media.jitter_max", cfg.Media.JitterMax, 200 * time.Millisecond},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:8080"},
		{"http enabled", cfg.HTTP.Enabled(), true},
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, "text"},
		{"audio.codecs", strings.Join(codecStrings(cfg.Audio.Codecs), ","), "opus,G722,PCMU,PCMA"},
		{"rooms[0].name", cfg.Rooms[0].Name, "Room 1001"},
		{"rooms[0].max_participants", cfg.Rooms[0].MaxParticipants, 100},
		{"rooms[0].codecs", strings.Join(codecStrings(cfg.Rooms[0].Codecs), ","), "opus,G722,PCMU,PCMA"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// A room's inherited codec list is its own copy.
	cfg.Rooms[0].Codecs[0] = "x"
	if cfg.Audio.Codecs[0] != CodecOpus {
		t.Errorf("changing a room's codecs changed audio.codecs")
	}
}

func codecStrings(cs []Codec) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func TestNullKeepsDefaults(t *testing.T) {
	cfg := mustParse(t, minimal+"http:\n  listen:\nlog: ~\naudio: {codecs: null}\n")
	if cfg.HTTP.Listen != DefaultHTTPListen || cfg.Log.Level != "info" || len(cfg.Audio.Codecs) != 4 {
		t.Errorf("null values did not keep defaults: http %q log %+v codecs %v", cfg.HTTP.Listen, cfg.Log, cfg.Audio.Codecs)
	}
	cfg = mustParse(t, minimal+"http: {listen: \"\"}\n")
	if cfg.HTTP.Enabled() {
		t.Errorf(`http.listen "" should disable HTTP`)
	}
}

func TestSettingsApplied(t *testing.T) {
	cfg := mustParse(t, `sip:
  listen: ["udp:[::1]:5070", "tcp:127.0.0.1:5070"]
  user_agent: "Acme MCU"
  no_rtp_timeout: 0
  session_expires: 600s
  min_se: 2m
media:
  rtp_ports: "20000-20099"
  bind_ip: "::"
  public_ip: "203.0.113.7"
  jitter_min: 0s
  jitter_max: 1s
http:
  listen: "[::1]:9090"
log:
  level: DEBUG
  format: JSON
audio:
  codecs: [pcma, g.722]
rooms:
  - number: 42
    name: "Answer"
    max_participants: 1
    codecs: [OPUS]
`)
	if got := cfg.SIP.Listeners(); !slices.Equal(got, []Listener{{"udp", "[::1]:5070"}, {"tcp", "127.0.0.1:5070"}}) {
		t.Errorf("listeners = %+v", got)
	}
	if cfg.SIP.UserAgent != "Acme MCU" || cfg.SIP.NoRTPTimeout != 0 || cfg.SIP.SessionExpires != 600*time.Second || cfg.SIP.MinSE != 120*time.Second {
		t.Errorf("sip = %+v", cfg.SIP)
	}
	if lo, hi := cfg.Media.PortRange(); lo != 20000 || hi != 20099 {
		t.Errorf("port range = %d-%d", lo, hi)
	}
	if cfg.Media.BindIP != "::" || cfg.Media.PublicIP != "203.0.113.7" || cfg.Media.JitterMin != 0 || cfg.Media.JitterMax != time.Second {
		t.Errorf("media = %+v", cfg.Media)
	}
	if cfg.HTTP.Listen != "[::1]:9090" {
		t.Errorf("http.listen = %q", cfg.HTTP.Listen)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "json" || cfg.Log.SlogLevel().String() != "DEBUG" {
		t.Errorf("log = %+v (%v), want debug/json", cfg.Log, cfg.Log.SlogLevel())
	}
	if !slices.Equal(cfg.Audio.Codecs, []Codec{CodecPCMA, CodecG722}) {
		t.Errorf("audio.codecs = %v, want canonical [PCMA G722]", cfg.Audio.Codecs)
	}
	r, ok := cfg.Room("42")
	if !ok {
		t.Fatal(`Room("42") not found`)
	}
	if r.Name != "Answer" || r.MaxParticipants != 1 || !slices.Equal(r.Codecs, []Codec{CodecOpus}) {
		t.Errorf("room = %+v", *r)
	}
}

func TestNumericRoomNumber(t *testing.T) {
	cfg := mustParse(t, `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - number: 1001
  - number: 0
  - number: 123456789012345678901234567890
  - number: "0042"
`)
	for _, want := range []string{"1001", "0", "123456789012345678901234567890", "0042"} {
		r, ok := cfg.Room(want)
		if !ok {
			t.Errorf("Room(%q) not found; rooms: %+v", want, cfg.Rooms)
			continue
		}
		if string(r.Number) != want || r.Name != "Room "+want {
			t.Errorf("Room(%q) = %+v", want, *r)
		}
	}
	for _, missing := range []string{"42", "+1001", "01001", ""} {
		if r, ok := cfg.Room(missing); ok {
			t.Errorf("Room(%q) = %+v, want not found", missing, *r)
		}
	}
}

func TestMergeKeys(t *testing.T) {
	cfg := mustParse(t, `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
rooms:
  - &small
    number: "2001"
    max_participants: 4
    codecs: [G722]
  - <<: *small
    number: "2002"
  - <<: [*small, {name: "Big", max_participants: 50}]
    number: "2003"
    max_participants: 10
`)
	tests := []struct {
		number, name string
		max          int
	}{
		{"2001", "Room 2001", 4},
		{"2002", "Room 2002", 4},
		{"2003", "Big", 10},
	}
	for _, tt := range tests {
		r, ok := cfg.Room(tt.number)
		if !ok {
			t.Fatalf("Room(%q) not found", tt.number)
		}
		if r.Name != tt.name || r.MaxParticipants != tt.max || !slices.Equal(r.Codecs, []Codec{CodecG722}) {
			t.Errorf("Room(%q) = %+v, want name %q max %d codecs [G722]", tt.number, *r, tt.name, tt.max)
		}
	}
}

func TestSampleConfig(t *testing.T) {
	data, err := os.ReadFile("../../configs/vmrd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, "configs/vmrd.yaml")
	if err != nil {
		t.Fatalf("the sample config does not load:\n%v", err)
	}
	wantListeners := []Listener{{"udp", "127.0.0.1:5060"}, {"tcp", "127.0.0.1:5060"}}
	if got := cfg.SIP.Listeners(); !slices.Equal(got, wantListeners) {
		t.Errorf("listeners = %+v, want %+v", got, wantListeners)
	}
	if cfg.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("http.listen = %q, want loopback", cfg.HTTP.Listen)
	}
	if lo, hi := cfg.Media.PortRange(); lo != 40000 || hi != 40999 {
		t.Errorf("rtp ports = %d-%d", lo, hi)
	}
	if cfg.Media.BindIP != "127.0.0.1" {
		t.Errorf("media.bind_ip = %q, want loopback in the sample", cfg.Media.BindIP)
	}
	if cfg.Log.Level != "info" || cfg.Log.Format != "text" {
		t.Errorf("log = %+v", cfg.Log)
	}
	rooms := []struct {
		number, name string
		max          int
	}{
		{"1001", "Konsultasjon 1", 100},
		{"1002", "Pasientkonsultasjon", 100},
		{"1003", "Room 1003", 3},
	}
	if len(cfg.Rooms) != len(rooms) {
		t.Errorf("%d rooms, want %d", len(cfg.Rooms), len(rooms))
	}
	for _, want := range rooms {
		r, ok := cfg.Room(want.number)
		if !ok {
			t.Errorf("room %s missing", want.number)
			continue
		}
		if r.Name != want.name || r.MaxParticipants != want.max {
			t.Errorf("room %s = %+v, want name %q max %d", want.number, *r, want.name, want.max)
		}
	}
	if r, _ := cfg.Room("1002"); r == nil || r.Type != RoomAutolock || r.HostPIN == "" || r.GuestPIN == "" {
		t.Errorf("sample room 1002 should show an autolock room with host and guest PIN hashes")
	}
}

func TestValidateHandBuilt(t *testing.T) {
	cfg := Default()
	cfg.SIP.Listen = []string{"udp:127.0.0.1:5060"}
	cfg.Media.RTPPorts = "40000-40999"
	cfg.Audio.Codecs = nil
	cfg.Rooms = []Room{{Number: "7", MaxParticipants: 5}, {Number: "8", MaxParticipants: 5, Codecs: []Codec{"pcmu"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.Rooms[0].Name != "Room 7" || !slices.Equal(cfg.Rooms[0].Codecs, KnownCodecs()) {
		t.Errorf("room 7 = %+v, want default name and codecs", cfg.Rooms[0])
	}
	if !slices.Equal(cfg.Rooms[1].Codecs, []Codec{CodecPCMU}) {
		t.Errorf("room 8 codecs = %v, want canonical [PCMU]", cfg.Rooms[1].Codecs)
	}
	// Validating twice changes nothing.
	if err := cfg.Validate(); err != nil {
		t.Fatalf("second Validate: %v", err)
	}
	// A room added after Validate is still found.
	cfg.Rooms = append(cfg.Rooms, Room{Number: "9"})
	if _, ok := cfg.Room("9"); !ok {
		t.Errorf("room added after Validate not found")
	}
	if _, ok := cfg.Room("7"); !ok {
		t.Errorf("room 7 not found after append")
	}

	bad := Default()
	bad.Rooms = []Room{{Number: "x"}}
	err := bad.Validate()
	want := "sip.listen: missing; add it under sip:, e.g. listen: [\"udp:0.0.0.0:5060\", \"tcp:0.0.0.0:5060\"]\n" +
		"media.rtp_ports: missing; add it under media:, e.g. rtp_ports: \"40000-40999\"\n" +
		"rooms[0].number: \"x\" is not a room number; use 1 to 32 digits and nothing else, e.g. \"1001\"\n" +
		"rooms[0].max_participants: 0 is out of range; use 1 to 100 (the most one room holds)"
	if err == nil || err.Error() != want {
		t.Errorf("Validate error:\n got: %v\nwant: %s", err, want)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Key: "sip", Msg: "m"}, "a.yaml:3: sip: m"},
		{Problem{File: "a.yaml", Msg: "m"}, "a.yaml: m"},
		{Problem{Line: 3, Key: "k", Msg: "m"}, "line 3: k: m"},
		{Problem{Key: "k", Msg: "m"}, "k: m"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	for _, lv := range []string{"debug", "info", "warn", "error"} {
		if got := (Log{Level: lv}).SlogLevel().String(); !strings.EqualFold(got, lv) {
			t.Errorf("SlogLevel(%q) = %s", lv, got)
		}
	}
}

// parseErrorCase is a snippet added to the minimal config that must fail
// to load with an error containing want.
type parseErrorCase struct{ name, add, want string }

func checkParseErrors(t *testing.T, cases []parseErrorCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+tt.add), "vmrd.yaml")
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}
