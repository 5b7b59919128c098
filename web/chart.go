package web

import (
	"math"
	"strconv"
	"strings"
)

// chart is a chart drawn on the server as SVG: a row of slots (hours, days, months),
// each with its series' bars stacked or a point on each series' line, in the chart's
// own units (its viewBox). The partial "chart" renders it, with its sentence saying
// what it shows and its figures as a list for screen readers.
type chart struct {
	ID      string // unique on its page: the ids of its title and caption
	Title   string // what it plots: the SVG's accessible name
	Summary string // what it shows, in a sentence
	Note    string // how to read it: what a slot is, the times' zone
	Scale   string // the top of the scale, in words: "20 a day"
	Legend  []series

	Width, Height, Top, Baseline, PlotHeight int
	Max                                      int64 // the top of the scale
	Slots                                    []slot
	Lines                                    []polyline
	Labels                                   []chartLabel
}

// series is one quantity charted: its class colours it.
type series struct {
	Class, Name string
	Values      []*int64 // a slot each; nil is no figure (a gap in a line)
}

// slot is one hour, day or month.
type slot struct {
	Label  string // its time and figures, in words: the bar's tooltip and the list's item
	Shown  bool   // it has a figure, so the list names it
	X      int    // its left edge
	Width  int
	Bars   []bar
	Points []point
}

type bar struct {
	Class     string
	Y, Height int
}

type point struct {
	Class string
	X, Y  int
}

type polyline struct {
	Class, Points string
}

// chartLabel is a time on the chart's axis; End labels are anchored at their end.
type chartLabel struct {
	X    int
	Text string
	End  bool
}

// The charts' geometry, in viewBox units.
const (
	chartTop    = 16 // room for the scale's label
	chartPlotH  = 120
	chartBottom = 20 // room for the time labels
	chartWidth  = 576
)

// chartShape is how a chart draws its series.
type chartShape int

const (
	stacked chartShape = iota // bars, the series stacked, the first at the bottom
	lines                     // a line a series, broken where a slot has no figure
)

// chartFigures is how a chart writes its figures: format writes one, unit follows the
// scale's top ("a day").
type chartFigures struct {
	format func(int64) string
	unit   string
}

// newChart lays out ss over len(labels) slots, labelled for a reader by labels (the
// slot's time, to which each series' figure is added) and on the axis by axis, a
// label a slot or "" for none; the last slot ends at "now".
func newChart(shape chartShape, id, title string, f chartFigures, labels, axis []string, ss ...series) chart {
	n := len(labels)
	ch := chart{ID: id, Title: title, Legend: ss, Width: chartWidth, Height: chartTop + chartPlotH + chartBottom,
		Top: chartTop, Baseline: chartTop + chartPlotH, PlotHeight: chartPlotH, Slots: make([]slot, n)}
	slotW := chartWidth / max(n, 1)
	for i := range ch.Slots {
		sum := int64(0)
		for _, s := range ss {
			if v := s.Values[i]; v != nil {
				sum += *v
			}
		}
		if shape == stacked {
			ch.Max = max(ch.Max, sum)
		} else {
			for _, s := range ss {
				if v := s.Values[i]; v != nil {
					ch.Max = max(ch.Max, *v)
				}
			}
		}
	}
	ch.Max = niceCeil(ch.Max)
	if ch.Max > 0 {
		ch.Scale = strings.TrimSpace(f.format(ch.Max) + " " + f.unit)
	}
	scale := func(v int64) int {
		if v <= 0 || ch.Max == 0 {
			return 0
		}
		// A figure above zero stays visible (a unit) however tall the scale.
		return max(1, int(math.Round(float64(v)*chartPlotH/float64(ch.Max))))
	}
	runs := make([][]string, len(ss)) // the points of each series' current run
	for i := range ch.Slots {
		sl := &ch.Slots[i]
		sl.X, sl.Width = i*slotW, slotW*3/4
		var words []string
		y := ch.Baseline
		for k, s := range ss {
			v := s.Values[i]
			if v == nil {
				if shape == lines && len(runs[k]) > 0 {
					ch.Lines = append(ch.Lines, polyline{s.Class, strings.Join(runs[k], " ")})
					runs[k] = nil
				}
				continue
			}
			sl.Shown = sl.Shown || *v != 0 || shape == lines
			words = append(words, f.format(*v)+" "+s.Name)
			h := scale(*v)
			if shape == stacked {
				if h > 0 {
					y -= h
					sl.Bars = append(sl.Bars, bar{s.Class, y, h})
				}
				continue
			}
			p := point{s.Class, sl.X + sl.Width/2, ch.Baseline - h}
			sl.Points = append(sl.Points, p)
			runs[k] = append(runs[k], strconv.Itoa(p.X)+","+strconv.Itoa(p.Y))
		}
		sl.Label = labels[i]
		if len(words) > 0 {
			sl.Label += ": " + strings.Join(words, ", ")
		}
		if axis[i] != "" {
			ch.Labels = append(ch.Labels, chartLabel{X: sl.X, Text: axis[i]})
		}
	}
	for k, s := range ss {
		if len(runs[k]) > 0 {
			ch.Lines = append(ch.Lines, polyline{s.Class, strings.Join(runs[k], " ")})
		}
	}
	ch.Labels = append(ch.Labels, chartLabel{X: ch.Width, Text: "now", End: true})
	return ch
}

// counts are figures that count things.
func counts(unit string) chartFigures { return chartFigures{formatInt, unit} }

// niceCeil rounds a scale's top up to 1, 2 or 5 times a power of ten, so that its label
// reads as a round figure.
func niceCeil(v int64) int64 {
	if v <= 0 {
		return 0
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= v {
				return m * p
			}
		}
	}
}

// figures returns vs as a series' values, every slot with a figure.
func figures(vs []int64) []*int64 {
	out := make([]*int64, len(vs))
	for i := range vs {
		out[i] = &vs[i]
	}
	return out
}

// formatMS writes a duration in milliseconds as people read it: 850 ms, 1.2 s, 2 min.
func formatMS(ms int64) string {
	switch {
	case ms < 1000:
		return strconv.FormatInt(ms, 10) + " ms"
	case ms < 60_000:
		return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + " s"
	}
	return strconv.FormatFloat(float64(ms)/60_000, 'f', 1, 64) + " min"
}
