#!/bin/sh
# prompts.sh regenerates the spoken prompts in configs/prompts/<lang>/<name>.wav
# from the texts below (the issue 3 prompt contract) with espeak-ng and sox.
#
# Output: 8 kHz mono 16-bit PCM WAV, leading and trailing silence trimmed,
# peak-normalized to PEAK_DB dBFS, with a short fixed pad at both ends so
# clips played back-to-back do not run into each other.
#
# Only this script needs speech synthesis (Debian: espeak-ng, sox); building,
# testing and running vmrd use the committed WAV files. The output is
# deterministic for one espeak-ng and sox version (no dither, sox repeatable
# mode), so re-running it on the same Debian release changes no file.
#
# Usage: scripts/prompts.sh [output dir]   (default: configs/prompts)
set -eu

cd "$(dirname "$0")/.."
OUT=${1:-configs/prompts}
# 8 kHz (telephone band) keeps all 28 prompts near 1 MB; at 16 kHz they
# would take 2 MB. Set RATE=16000 in the environment for wideband prompts:
# the Go loader accepts 8, 16 and 48 kHz.
RATE=${RATE:-8000}
PEAK_DB=-6   # speech peaks at -6 dBFS average about -20 dBFS RMS, a normal talker's level
SPEED=160    # words per minute: a little slower than espeak's 175, for callers on phones
PAD_START=0.05
PAD_END=0.25

for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "prompts.sh: $tool not found (apt-get install -y --no-install-recommends espeak-ng sox)" >&2
		exit 1
	}
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# name|lang|text, one prompt a line. The names are room.Prompt values.
prompts() {
	cat <<'TEXT'
enter_pin|nb|Skriv inn PIN-koden, avslutt med firkant.
enter_pin|en|Enter the PIN, then press the hash key.
wrong_pin|nb|Feil PIN-kode. Prøv igjen.
wrong_pin|en|That PIN is not correct. Please try again.
goodbye_pin|nb|For mange feil forsøk. Ha det.
goodbye_pin|en|Too many wrong attempts. Goodbye.
waiting|nb|Vennligst vent. Verten slipper deg inn snart.
waiting|en|Please wait. The host will let you in shortly.
rejected|nb|Verten har ikke sluppet deg inn. Ha det.
rejected|en|The host did not let you in. Goodbye.
room_full|nb|Rommet er fullt. Ha det.
room_full|en|The room is full. Goodbye.
meeting_ended|nb|Møtet er avsluttet. Ha det.
meeting_ended|en|The meeting has ended. Goodbye.
disconnected|nb|Verten har koblet deg fra. Ha det.
disconnected|en|The host has disconnected you. Goodbye.
muted|nb|Mikrofonen din er av.
muted|en|Your microphone is off.
unmuted|nb|Mikrofonen din er på.
unmuted|en|Your microphone is on.
guests_muted|nb|Alle gjester er dempet.
guests_muted|en|All guests are muted.
guests_unmuted|nb|Gjestene kan snakke igjen.
guests_unmuted|en|Guests can speak again.
locked|nb|Rommet er låst.
locked|en|The room is locked.
unlocked|nb|Rommet er låst opp.
unlocked|en|The room is unlocked.
TEXT
}

prompts | while IFS='|' read -r name lang text; do
	mkdir -p "$OUT/$lang"
	raw="$tmp/$lang-$name.wav"
	espeak-ng -v "$lang" -s "$SPEED" -w "$raw" "$text"
	# silence 1 ... reverse silence 1 ... reverse trims both ends at -50 dBFS;
	# gain -n normalizes the peak; rate -v is sox's best resampler.
	sox -R -D "$raw" --comment "" -t wav -b 16 -c 1 -e signed-integer "$OUT/$lang/$name.wav.new" \
		silence 1 0.01 -50d reverse silence 1 0.01 -50d reverse \
		rate -v "$RATE" gain -n "$PEAK_DB" pad "$PAD_START" "$PAD_END"
	mv "$OUT/$lang/$name.wav.new" "$OUT/$lang/$name.wav"
done

du -ch "$OUT"/*/*.wav | tail -n 1
