"""The papers' published numbers, printed beside ours (paper 001 Tables 1-3, PSNR [dB])."""

MODELS = ("rnn", "lstm", "gru", "indrnn", "fastrnn", "spectralrnn", "sista", "l1l1",
          "reweighted")
LABELS = {"rnn": "sRNN", "lstm": "LSTM", "gru": "GRU", "indrnn": "IndRNN",
          "fastrnn": "FastRNN", "spectralrnn": "SpectralRNN", "sista": "Sista-RNN",
          "l1l1": "l1-l1-RNN", "reweighted": "reweighted-RNN"}


def _rows(table: dict) -> dict:
    return {key: dict(zip(MODELS, values, strict=True)) for key, values in table.items()}


# Table 1: CS rate -> PSNR (d = 3, h = 2^10; LSTM with 2 layers)
TABLE1 = _rows({
    0.1: (25.11, 24.58, 25.18, 25.68, 25.21, 25.15, 25.16, 24.68, 26.25),
    0.2: (31.14, 29.46, 31.19, 32.90, 32.05, 31.65, 31.53, 30.79, 34.19),
    0.3: (35.38, 32.91, 36.49, 37.12, 36.40, 36.89, 36.96, 37.77, 42.39),
    0.4: (38.05, 34.95, 39.47, 40.84, 39.21, 40.22, 39.57, 40.35, 46.03),
    0.5: (39.34, 36.28, 41.12, 45.49, 41.87, 41.36, 41.56, 43.35, 48.70),
})
# Table 2: hidden size h -> PSNR (rate 0.2, d = 3)
TABLE2 = _rows({
    128: (23.35, 22.87, 23.55, 23.82, 23.83, 22.92, 23.86, 23.90, 28.09),
    256: (25.81, 23.88, 26.67, 27.10, 26.71, 24.46, 29.64, 29.55, 31.46),
    512: (28.72, 26.83, 30.29, 32.03, 29.92, 30.23, 31.30, 30.61, 33.61),
    1024: (31.14, 29.46, 31.19, 32.90, 32.05, 31.65, 31.53, 30.79, 34.19),
    2048: (29.91, 29.30, 31.15, 33.10, 30.80, 31.68, 31.82, 30.45, 34.80),
    4096: (29.71, 29.08, 30.93, 32.47, 24.26, 29.26, 31.63, 30.09, 34.98),
})
# Table 3: depth d -> PSNR (rate 0.2, h = 2^10). The OCR of this table is broken: only the
# reweighted-RNN column reads in order (d = 3 agrees with Table 1); the rest is unknown.
TABLE3 = {d: {"reweighted": v} for d, v in
          zip(range(1, 7), (29.19, 32.12, 34.19, 35.99, 36.91, 38.90), strict=True)}

TABLES = {"table1": ("rate", TABLE1), "table2": ("hidden_size", TABLE2),
          "table3": ("num_layers", TABLE3)}
