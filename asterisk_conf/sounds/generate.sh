#!/usr/bin/env bash
# Regenerates Siaga112's prompts in Bahasa Indonesia (language "id") with espeak-ng and sox:
# 8 kHz, mono, 16-bit WAV, the format Asterisk plays without transcoding from slin.
# Usage: bash asterisk_conf/sounds/generate.sh   (needs espeak-ng and sox)
set -euo pipefail
OUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/id"
mkdir -p "$OUT/siaga" "$OUT/digits"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

say() {  # say <relative name> <text>
  espeak-ng -v id -s 150 -w "$TMP/raw.wav" "$2"
  sox "$TMP/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$OUT/$1.wav" norm -3 silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
}

# Siaga112's own prompts
say siaga/greeting "Layanan darurat satu satu dua. Panggilan Anda direkam."
say siaga/speak-or-press "Silakan bicara, atau tekan tombol apa saja."
say siaga/prank-warning "Peringatan. Nomor Anda tercatat sering melakukan panggilan iseng. Panggilan iseng ke satu satu dua dapat dikenai sanksi hukum. Mohon tunggu."
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$OUT/siaga/silence-3.wav" trim 0 3
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$OUT/siaga/silence-0.wav" trim 0 0.02

# Queue announcements (app_queue's standard names, so the channel language "id" finds them).
# Kept short: a caller hearing one cannot be put through until it ends, even to a free call
# taker ("Antrean ke dua. Mohon tunggu." is about 2 s; queues.conf plays no "thank you").
say queue-thereare "Antrean ke"
say queue-callswaiting "Mohon tunggu."
say queue-youarenext "Anda berikutnya. Mohon tunggu."
say queue-thankyou "Terima kasih, mohon tetap di saluran."
say queue-holdtime "Perkiraan waktu tunggu"
say queue-minutes "menit"
say queue-seconds "detik"
say queue-less-than "kurang dari"
say queue-reporthold "Lama tunggu"

# Numbers for position announcements
words=(nol satu dua tiga empat lima enam tujuh delapan sembilan sepuluh sebelas "dua belas"
       "tiga belas" "empat belas" "lima belas" "enam belas" "tujuh belas" "delapan belas"
       "sembilan belas" "dua puluh")
for i in "${!words[@]}"; do say "digits/$i" "${words[$i]}"; done
tens=([3]="tiga puluh" [4]="empat puluh" [5]="lima puluh" [6]="enam puluh" [7]="tujuh puluh"
      [8]="delapan puluh" [9]="sembilan puluh")
for t in "${!tens[@]}"; do say "digits/${t}0" "${tens[$t]}"; done
say digits/hundred "ratus"
say digits/thousand "ribu"
say digits/million "juta"
echo "prompts written to $OUT"
