"""Dependency-free SVG pictures: a BABILong-leaderboard-style heatmap and line plots (loss curves).

    heatmap_svg("acc.svg", "lm2", ["qa1", "qa2"], ["0k", "1k"], [[0.9, 0.5], [0.7, None]])
    line_svg("loss.svg", "train loss", {"lm2": (steps, losses)}, "iteration", "loss")

The files are plain SVG 1.1 text: any browser or image viewer shows them.
"""
import colorsys
import math
from xml.sax.saxutils import escape

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # matplotlib's tab10, so the curves look familiar
FONT = 'font-family="sans-serif"'


def _text(x, y, s, size=12, anchor="middle", extra=""):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT} '
            f'{extra}>{escape(str(s))}</text>')


def _write(path, width, height, body):
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}">\n'
           f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg)


def red_to_green(t):
    """t in [0, 1] -> a colour from red (0) through yellow to green (1), as '#rrggbb'."""
    t = min(max(t, 0.0), 1.0)
    r, g, b = colorsys.hls_to_rgb(t / 3, 0.62, 0.7)  # hue 0 = red, 1/3 = green
    return "#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255))


def heatmap_svg(path, title, row_labels, col_labels, values, fmt="{:.2f}", vmin=0.0, vmax=1.0):
    """A table of coloured cells: values[i][j] (None = missing, drawn grey and left blank) is the
    cell of row i and column j, coloured red (vmin) to green (vmax), printed with fmt."""
    cell_w, cell_h = 64, 30
    left = 16 + 8 * max([len(str(r)) for r in row_labels] + [4])
    top = 60
    width = max(left + cell_w * len(col_labels) + 20, 9 * len(title) + 20)  # room for the title
    height = top + cell_h * len(row_labels) + 20
    body = [_text(width / 2, 24, title, size=16, extra='font-weight="bold"')]
    for j, col in enumerate(col_labels):
        body.append(_text(left + (j + 0.5) * cell_w, top - 10, col))
    for i, row in enumerate(row_labels):
        y = top + i * cell_h
        body.append(_text(left - 8, y + cell_h / 2 + 4, row, anchor="end"))
        for j in range(len(col_labels)):
            v = values[i][j]
            fill = "#dddddd" if v is None else red_to_green((v - vmin) / ((vmax - vmin) or 1))
            x = left + j * cell_w
            body.append(f'<rect x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" '
                        f'fill="{fill}" stroke="white"/>')
            if v is not None:
                body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, fmt.format(v)))
    _write(path, width, height, body)


def nice_ticks(lo, hi, count=5):
    """About `count` round tick values (steps of 1, 2 or 5 times a power of ten) in [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_label(v):
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.2g}"


def line_svg(path, title, series, xlabel, ylabel, width=720, height=440):
    """One line per series {name: (xs, ys)}, with axes, tick labels and a legend. Points whose
    value is None, NaN or infinite are skipped (the line breaks there); a lone point is a dot."""
    def finite(v):
        return v is not None and math.isfinite(v)

    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys)
              if finite(x) and finite(y)] or [(0, 0), (1, 1)]  # nothing finite: empty axes
    x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
    y_lo, y_hi = min(p[1] for p in points), max(p[1] for p in points)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad = (y_hi - y_lo) * 0.05 or abs(y_hi) * 0.05 or 1.0
    y_lo, y_hi = y_lo - pad, y_hi + pad
    left, right, top, bottom = 70, 20, 40, 55
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x):
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y):
        return top + (y_hi - y) / (y_hi - y_lo) * plot_h

    body = [_text(width / 2, 24, title, size=16, extra='font-weight="bold"'),
            f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
            f'stroke="black"/>']
    for x in nice_ticks(x_lo, x_hi):
        body.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{top + plot_h}" '
                    f'stroke="#e5e5e5"/>')
        body.append(_text(px(x), top + plot_h + 16, _tick_label(x), size=11))
    for y in nice_ticks(y_lo, y_hi):
        body.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + plot_w}" y2="{py(y):.1f}" '
                    f'stroke="#e5e5e5"/>')
        body.append(_text(left - 6, py(y) + 4, _tick_label(y), size=11, anchor="end"))
    body.append(_text(left + plot_w / 2, height - 12, xlabel))
    body.append(_text(16, top + plot_h / 2, ylabel,
                      extra=f'transform="rotate(-90 16 {top + plot_h / 2:.1f})"'))
    legend = [f'<rect x="{left + plot_w - 156}" y="{top + 2}" width="152" '
              f'height="{18 * len(series) + 6}" fill="white" fill-opacity="0.85"/>']
    for k, (name, (xs, ys)) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        runs, run = [], []  # unbroken runs of finite points, one polyline each
        for x, y in zip(xs, ys):
            if finite(x) and finite(y):
                run.append(f"{px(x):.1f},{py(y):.1f}")
            elif run:
                runs.append(run)
                run = []
        runs.append(run)
        for run in filter(None, runs):
            if len(run) == 1:  # a lone point (e.g. the first evaluation) as a dot
                x, y = run[0].split(",")
                body.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            else:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                            f'stroke-width="1.5"/>')
        ly = top + 14 + 18 * k  # legend, top right inside the axes
        legend.append(f'<line x1="{left + plot_w - 150}" y1="{ly - 4}" x2="{left + plot_w - 126}" '
                      f'y2="{ly - 4}" stroke="{colour}" stroke-width="3"/>')
        legend.append(_text(left + plot_w - 120, ly, name, size=11, anchor="start"))
    _write(path, width, height, body + legend)  # the legend last, above the lines
