#!/usr/bin/env bash
# Generates every prompt of switchboard from the phrase lists, with espeak-ng and sox.
#
#   prompts/phrases.tsv            say-vocabulary and queue phrases (helper "media")
#   prompts/dialplan-phrases.tsv   phrases the shipped dialplans need (helper "ivr"), optional
#
# Each non-comment line is `lang<TAB>name<TAB>text` and becomes prompts/<lang>/<name>.wav:
# 8 kHz, mono, 16-bit PCM, normalised to -1 dBFS, leading/trailing silence trimmed.
# prompts/moh.wav is ~20 s of synthesized, loopable music on hold.
#
# Reproducible: fixed voice, speed, pitch; sox runs with -R (fixed seeds) and -D (no dither),
# so the same inputs give byte-identical files. Idempotent: a file is replaced only when its
# bytes change, so rerunning leaves the tree (and git) untouched.
#
# Usage: scripts/gen-prompts.sh [--check]   (--check: exit 1 if any file would change)
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null 2>&1 || { echo "gen-prompts: $tool is required (apt-get install espeak-ng sox)" >&2; exit 2; }
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

SOX=(sox -R -D -V1)
# espeak-ng: words per minute, pitch, amplitude, gap between words (10 ms units).
ESPEAK_FLAGS=(-s 150 -p 45 -a 120 -g 2)
changed=0
written=0

# install_if_changed <tmp> <dest>
install_if_changed() {
  local src="$1" dst="$2"
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
    return 0
  fi
  changed=$((changed + 1))
  if [ "$CHECK" -eq 1 ]; then
    echo "gen-prompts: $dst would change" >&2
    return 0
  fi
  mkdir -p "$(dirname "$dst")"
  cp "$src" "$dst"
}

# speak <lang> <name> <text>
speak() {
  local lang="$1" name="$2" text="$3" voice
  case "$lang" in
    en) voice="en" ;;
    ru) voice="ru" ;;
    *) echo "gen-prompts: unknown language '$lang' for $name" >&2; exit 2 ;;
  esac
  case "$name" in
    *[!a-z0-9-]* | "") echo "gen-prompts: bad prompt name '$name' (want [a-z0-9-]+)" >&2; exit 2 ;;
  esac
  espeak-ng -v "$voice" "${ESPEAK_FLAGS[@]}" -w "$TMP/raw.wav" -- "$text"
  # Trim silence at both ends (reverse trick), then resample, mono, 16-bit, normalise.
  "${SOX[@]}" "$TMP/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$TMP/out.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
    highpass 100 norm -1 pad 0.05 0.05
  install_if_changed "$TMP/out.wav" "prompts/$lang/$name.wav"
  written=$((written + 1))
}

for list in prompts/phrases.tsv prompts/dialplan-phrases.tsv; do
  [ -f "$list" ] || continue
  while IFS=$'\t' read -r lang name text rest || [ -n "${lang:-}" ]; do
    case "${lang:-}" in '' | '#'*) continue ;; esac
    if [ -z "${name:-}" ] || [ -z "${text:-}" ]; then
      echo "gen-prompts: $list: malformed line for '$lang'" >&2; exit 2
    fi
    speak "$lang" "$name" "$text"
  done < "$list"
done

# Music on hold: a I-vi-IV-V progression in C, 5 s per chord: a soft sine pad under a
# plucked arpeggio (0.5 s per note). Every chord fades in and out, so the loop point
# (end -> start) is seamless.
moh_chord() { # <index> <pad notes...> -- <arpeggio notes...>
  local idx="$1"; shift
  local pad=() arp=()
  while [ "$1" != "--" ]; do pad+=("$1"); shift; done
  shift
  arp=("$@")
  local synth_args=()
  for n in "${pad[@]}"; do synth_args+=(sine "$n"); done
  "${SOX[@]}" -n -r 8000 -c ${#pad[@]} -b 16 "$TMP/pad$idx.wav" synth 5 "${synth_args[@]}" \
    remix - vol 0.12 fade t 1 5 1.2
  local notes=()
  local i=0
  for n in "${arp[@]}" "${arp[@]}" "${arp[@]}"; do
    [ $i -ge 10 ] && break
    "${SOX[@]}" -n -r 8000 -c 1 -b 16 "$TMP/n$idx-$i.wav" synth 0.5 pluck "$n" vol 0.35 fade q 0.005 0.5 0.3
    notes+=("$TMP/n$idx-$i.wav")
    i=$((i + 1))
  done
  "${SOX[@]}" "${notes[@]}" "$TMP/arp$idx.wav"
  "${SOX[@]}" -m "$TMP/pad$idx.wav" "$TMP/arp$idx.wav" "$TMP/chord$idx.wav"
}
moh_chord 0 C3 E3 G3 -- C4 E4 G4 C5 G4
moh_chord 1 A2 C3 E3 -- A3 C4 E4 A4 E4
moh_chord 2 F2 A2 C3 -- F3 A3 C4 F4 C4
moh_chord 3 G2 B2 D3 -- G3 B3 D4 G4 D4
"${SOX[@]}" "$TMP"/chord0.wav "$TMP"/chord1.wav "$TMP"/chord2.wav "$TMP"/chord3.wav \
  -r 8000 -c 1 -b 16 -e signed-integer "$TMP/moh.wav" norm -3
install_if_changed "$TMP/moh.wav" "prompts/moh.wav"

if [ "$CHECK" -eq 1 ]; then
  echo "gen-prompts: checked $written phrases + moh, $changed would change" >&2
  [ "$changed" -eq 0 ] || exit 1
else
  echo "gen-prompts: $written phrases + moh, $changed files updated" >&2
fi
