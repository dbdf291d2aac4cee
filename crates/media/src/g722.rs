//! ITU-T G.722 (7 kHz audio coding within 64 kbit/s): sub-band ADPCM, mode 1 (64 kbit/s).
//!
//! Written from the Recommendation's block descriptions (§3 encoder, §4 decoder, §6
//! computational details). 16 kHz linear PCM is split by a 24-tap quadrature mirror filter
//! (QMF) into a lower and a higher sub-band at 8 kHz each. The lower band is coded with
//! 6-bit ADPCM, the higher band with 2-bit ADPCM; each octet carries `IH(2) | IL(6)`.
//! Each band runs its own backward-adaptive predictor (two poles, six zeros) and
//! logarithmic scale factor, so encoder and decoder stay in step without side information.
//!
//! Samples are 16-bit linear (the QMF gains are arranged so a full-scale 16-bit input maps
//! to the sub-band range the Recommendation's 15-bit arithmetic expects). The RTP clock rate
//! for G.722 is 8000 Hz even though audio is sampled at 16 kHz (RFC 3551 §4.5.2): one octet
//! per 8 kHz tick.

// Index loops mirror the Recommendation's subscripts (b[i], d[i], x[2i]); keep them.
#![allow(clippy::needless_range_loop)]

/// QMF coefficients h0..h11 (Table 11/G.722 lists the 24 symmetric taps; this is the half
/// used with the even/odd polyphase split).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// Lower band 6-bit quantiser decision levels (Table 6/G.722), scaled by 8 (Q12 multiplier).
const Q6: [i32; 31] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
];
/// Codeword for a negative difference in interval i.
const ILN: [u8; 31] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4,
];
/// Codeword for a positive difference in interval i.
const ILP: [u8; 31] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32,
];
/// 4-bit inverse quantiser output levels for the predictor update (Table 7/G.722).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// 6-bit inverse quantiser output levels used by the decoder's reconstructed signal.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// 4-bit codeword to scale-factor multiplier index (lower band, LOGSCL).
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Lower band log scale factor increments.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// Higher band 2-bit inverse quantiser output levels (Table 9/G.722).
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// 2-bit codeword to scale-factor multiplier index (higher band, LOGSCH).
const RH2: [usize; 4] = [2, 1, 2, 1];
/// Higher band log scale factor increments.
const WH: [i32; 3] = [0, -214, 798];
/// Inverse log table for SCALEL/SCALEH (Table 12/G.722).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];

#[inline]
fn sat16(x: i32) -> i32 {
    x.clamp(-32768, 32767)
}

/// Scale factor from the log scale factor `nb`; `shift_base` is 8 (lower) or 10 (higher).
#[inline]
fn scale(nb: i32, shift_base: i32) -> i32 {
    let wd1 = ((nb >> 6) & 31) as usize;
    let wd2 = shift_base - (nb >> 11);
    let base = ILB.get(wd1).copied().unwrap_or(2048);
    let wd3 = if wd2 < 0 { base << -wd2 } else { base >> wd2 };
    wd3 << 2
}

/// State of one sub-band ADPCM: adaptive predictor and scale factor (blocks 3 and 4).
#[derive(Debug, Clone)]
struct Band {
    /// Predicted signal (s = sp + sz).
    s: i32,
    /// Pole predictor output.
    sp: i32,
    /// Zero predictor output.
    sz: i32,
    /// Reconstructed signal history r(n), r(n-1), r(n-2).
    r: [i32; 3],
    /// Pole coefficients a1, a2 (index 0 unused).
    a: [i32; 3],
    /// Partially reconstructed signal history p(n), p(n-1), p(n-2).
    p: [i32; 3],
    /// Quantised difference history d(n)..d(n-6).
    d: [i32; 7],
    /// Zero coefficients b1..b6 (index 0 unused).
    b: [i32; 7],
    /// Log scale factor.
    nb: i32,
    /// Scale factor (quantiser step).
    det: i32,
}

impl Band {
    fn new(det: i32) -> Band {
        Band {
            s: 0,
            sp: 0,
            sz: 0,
            r: [0; 3],
            a: [0; 3],
            p: [0; 3],
            d: [0; 7],
            b: [0; 7],
            nb: 0,
            det,
        }
    }

    /// Block 4: reconstruction, pole/zero coefficient adaptation, prediction.
    fn update_predictor(&mut self, d: i32) {
        // RECONS and PARREC.
        self.d[0] = d;
        self.r[0] = sat16(self.s + d);
        self.p[0] = sat16(self.sz + d);

        // UPPOL2: second pole coefficient.
        let sg0 = self.p[0] >> 15;
        let sg1 = self.p[1] >> 15;
        let sg2 = self.p[2] >> 15;
        let wd1 = sat16(self.a[1] << 2);
        let wd2 = if sg0 == sg1 { -wd1 } else { wd1 }.min(32767);
        let mut wd3 = if sg0 == sg2 { 128 } else { -128 };
        wd3 += wd2 >> 7;
        wd3 += (self.a[2] * 32512) >> 15;
        let ap2 = wd3.clamp(-12288, 12288);

        // UPPOL1: first pole coefficient, limited by a2 for stability.
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let lim = sat16(15360 - ap2);
        let ap1 = sat16(wd1 + wd2).clamp(-lim, lim);

        // UPZERO: sign-sign adaptation of the six zero coefficients.
        let step = if d == 0 { 0 } else { 128 };
        let sgd = d >> 15;
        let mut bp = [0i32; 7];
        for i in 1..7 {
            let wd2 = if (self.d[i] >> 15) == sgd {
                step
            } else {
                -step
            };
            let wd3 = (self.b[i] * 32640) >> 15;
            bp[i] = sat16(wd2 + wd3);
        }

        // DELAYA: shift histories, commit new coefficients.
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = bp[i];
        }
        self.r[2] = self.r[1];
        self.r[1] = self.r[0];
        self.p[2] = self.p[1];
        self.p[1] = self.p[0];
        self.a[2] = ap2;
        self.a[1] = ap1;

        // FILTEP: pole section output.
        let wd1 = (self.a[1] * sat16(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat16(self.r[2] + self.r[2])) >> 15;
        self.sp = sat16(wd1 + wd2);

        // FILTEZ: zero section output.
        let mut sz = 0;
        for i in 1..7 {
            sz += (self.b[i] * sat16(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat16(sz);

        // PREDIC.
        self.s = sat16(self.sp + self.sz);
    }

    /// Lower band: LOGSCL + SCALEL from the 4-bit truncated codeword.
    fn adapt_low(&mut self, il4: usize) {
        let wd = (self.nb * 127) >> 7;
        let inc = RL42.get(il4).and_then(|&k| WL.get(k)).copied().unwrap_or(0);
        self.nb = (wd + inc).clamp(0, 18432);
        self.det = scale(self.nb, 8);
    }

    /// Higher band: LOGSCH + SCALEH from the 2-bit codeword.
    fn adapt_high(&mut self, ih: usize) {
        let wd = (self.nb * 127) >> 7;
        let inc = RH2.get(ih).and_then(|&k| WH.get(k)).copied().unwrap_or(0);
        self.nb = (wd + inc).clamp(0, 22528);
        self.det = scale(self.nb, 10);
    }
}

/// QMF delay line: 24 samples, newest at the end.
#[derive(Debug, Clone, Default)]
struct Qmf {
    x: [i32; 24],
}

impl Qmf {
    /// Pushes two samples and returns the even/odd polyphase sums.
    #[inline]
    fn push(&mut self, a: i32, b: i32) -> (i32, i32) {
        self.x.copy_within(2.., 0);
        self.x[22] = a;
        self.x[23] = b;
        let mut odd = 0i32;
        let mut even = 0i32;
        for i in 0..12 {
            odd += self.x[2 * i] * QMF[i];
            even += self.x[2 * i + 1] * QMF[11 - i];
        }
        (even, odd)
    }
}

/// G.722 64 kbit/s encoder: 16 kHz 16-bit PCM in, one octet per two samples out.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    low: Band,
    high: Band,
    qmf: Qmf,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// An encoder in the reset state of §6.
    pub fn new() -> G722Encoder {
        G722Encoder {
            low: Band::new(32),
            high: Band::new(8),
            qmf: Qmf::default(),
        }
    }

    /// Encodes pairs of samples from `pcm` into `out`; returns the octets written
    /// (`min(pcm.len() / 2, out.len())`). An odd trailing sample is ignored.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        let mut n = 0;
        for (pair, o) in pcm.chunks_exact(2).zip(out.iter_mut()) {
            *o = self.encode_pair(i32::from(pair[0]), i32::from(pair[1]));
            n += 1;
        }
        n
    }

    fn encode_pair(&mut self, x0: i32, x1: i32) -> u8 {
        // Transmit QMF: split into the two sub-bands.
        let (even, odd) = self.qmf.push(x0, x1);
        let xlow = (even + odd) >> 14;
        let xhigh = (even - odd) >> 14;

        // Lower band: SUBTRA, QUANTL.
        let el = sat16(xlow - self.low.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 && wd >= (Q6[i] * self.low.det) >> 12 {
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        // INVQAL with the 4-bit truncated codeword, then adapt.
        let ril = usize::from(ilow >> 2);
        let dlow = (self.low.det * QM4[ril]) >> 15;
        self.low.adapt_low(ril);
        self.low.update_predictor(dlow);

        // Higher band: SUBTRA, QUANTH.
        let eh = sat16(xhigh - self.high.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (564 * self.high.det) >> 12 {
            2
        } else {
            1
        };
        let ihigh: u8 = match (eh < 0, mih) {
            (true, 1) => 1,
            (true, _) => 0,
            (false, 1) => 3,
            (false, _) => 2,
        };
        let dhigh = (self.high.det * QM2[usize::from(ihigh)]) >> 15;
        self.high.adapt_high(usize::from(ihigh));
        self.high.update_predictor(dhigh);

        (ihigh << 6) | ilow
    }
}

/// G.722 64 kbit/s decoder: one octet in, two 16 kHz 16-bit samples out.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    low: Band,
    high: Band,
    qmf: Qmf,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A decoder in the reset state of §6.
    pub fn new() -> G722Decoder {
        G722Decoder {
            low: Band::new(32),
            high: Band::new(8),
            qmf: Qmf::default(),
        }
    }

    /// Decodes `codes` into `out` (two samples per octet); returns the samples written.
    /// Stops early if `out` has room for fewer than `2 * codes.len()` samples.
    pub fn decode(&mut self, codes: &[u8], out: &mut [i16]) -> usize {
        let mut n = 0;
        for (c, pair) in codes.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_octet(*c);
            pair[0] = a;
            pair[1] = b;
            n += 2;
        }
        n
    }

    fn decode_octet(&mut self, code: u8) -> (i16, i16) {
        let ilow = usize::from(code & 0x3F);
        let ihigh = usize::from(code >> 6);

        // Lower band: INVQBL (6-bit) for the output, INVQAL (4-bit) for adaptation.
        let dlow6 = (self.low.det * QM6[ilow]) >> 15;
        let rlow = (self.low.s + dlow6).clamp(-16384, 16383);
        let ril = ilow >> 2;
        let dlow = (self.low.det * QM4[ril]) >> 15;
        self.low.adapt_low(ril);
        self.low.update_predictor(dlow);

        // Higher band.
        let dhigh = (self.high.det * QM2[ihigh]) >> 15;
        let rhigh = (dhigh + self.high.s).clamp(-16384, 16383);
        self.high.adapt_high(ihigh);
        self.high.update_predictor(dhigh);

        // Receive QMF: recombine the bands at 16 kHz.
        let (xout1, xout2) = self.qmf.push(rlow + rhigh, rlow - rhigh);
        (sat16(xout1 >> 11) as i16, sat16(xout2 >> 11) as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: usize = 22;

    fn tone(freq: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / 16000.0).sin()) as i16)
            .collect()
    }

    fn round_trip(pcm: &[i16]) -> Vec<i16> {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut codes = vec![0u8; pcm.len() / 2];
        assert_eq!(enc.encode(pcm, &mut codes), pcm.len() / 2);
        let mut out = vec![0i16; pcm.len()];
        assert_eq!(dec.decode(&codes, &mut out), pcm.len());
        out
    }

    /// SNR in dB of `out` against `inp` delayed by `delay` samples.
    fn snr(inp: &[i16], out: &[i16], delay: usize, skip: usize) -> f64 {
        let mut sig = 0.0;
        let mut err = 0.0;
        for i in skip..inp.len() - delay {
            let x = f64::from(inp[i]);
            let y = f64::from(out[i + delay]);
            sig += x * x;
            err += (x - y) * (x - y);
        }
        10.0 * (sig / err.max(1e-9)).log10()
    }

    fn best_delay(inp: &[i16], out: &[i16]) -> usize {
        (0..64)
            .max_by(|&a, &b| {
                snr(inp, out, a, 800)
                    .partial_cmp(&snr(inp, out, b, 800))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .unwrap_or(0)
    }

    #[test]
    fn silence_stays_silent() {
        let out = round_trip(&[0; 1600]);
        assert!(out.iter().all(|s| s.abs() < 4), "{:?}", &out[..32]);
    }

    #[test]
    fn codec_delay_is_qmf_delay() {
        // Two 24-tap QMFs in polyphase form: 22 samples at 16 kHz (~1.4 ms). A sum of
        // unrelated tones makes the delay unambiguous.
        let a = tone(440.0, 16000, 3000.0);
        let b = tone(1230.0, 16000, 3000.0);
        let c = tone(2710.0, 16000, 3000.0);
        let inp: Vec<i16> = (0..16000).map(|i| a[i] + b[i] + c[i]).collect();
        let out = round_trip(&inp);
        assert_eq!(best_delay(&inp, &out), DELAY);
    }

    #[test]
    fn tone_round_trip_snr() {
        for (freq, min_db) in [
            (300.0, 25.0),
            (1000.0, 25.0),
            (3000.0, 20.0),
            (5000.0, 12.0),
        ] {
            let inp = tone(freq, 16000, 10000.0);
            let out = round_trip(&inp);
            let db = snr(&inp, &out, DELAY, 800);
            assert!(db > min_db, "{freq} Hz: SNR {db:.1} dB");
        }
    }

    #[test]
    fn wideband_content_survives() {
        // 6 kHz is above the narrowband limit; G.722 must carry it (higher band).
        let inp = tone(6000.0, 16000, 8000.0);
        let out = round_trip(&inp);
        let e_in: f64 = inp[800..].iter().map(|&s| f64::from(s).powi(2)).sum();
        let e_out: f64 = out[800..].iter().map(|&s| f64::from(s).powi(2)).sum();
        let ratio = e_out / e_in;
        assert!(ratio > 0.5 && ratio < 2.0, "energy ratio {ratio}");
    }

    #[test]
    fn decoder_never_panics_on_any_octets() {
        let mut dec = G722Decoder::new();
        let codes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let mut out = vec![0i16; 8192];
        assert_eq!(dec.decode(&codes, &mut out), 8192);
    }

    #[test]
    fn full_scale_square_wave_does_not_overflow() {
        let inp: Vec<i16> = (0..8000)
            .map(|i| {
                if (i / 20) % 2 == 0 {
                    i16::MAX
                } else {
                    i16::MIN
                }
            })
            .collect();
        let out = round_trip(&inp);
        assert_eq!(out.len(), inp.len());
    }
}
