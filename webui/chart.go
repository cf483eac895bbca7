package webui

import (
	"strconv"

	"github.com/authsmtp/authsmtp/store"
)

// chart is a bar chart drawn as SVG by the template: numbers only, so
// there is nothing to escape and no inline script or style is needed.
type chart struct {
	W, H   int
	Max    int
	Bars   []bar
	Labels []label
}

type bar struct {
	X, W           float64
	SentY, SentH   float64
	RecvY, RecvH   float64
	Title          string
	Sent, Received int
}

type label struct {
	X    float64
	Text string
}

// makeChart draws hours as stacked bars, labelling every labelEvery-th hour.
func makeChart(hours []store.TrafficHour, labelEvery int) chart {
	ch := chart{W: 720, H: 160}
	for _, h := range hours {
		ch.Max = max(ch.Max, h.Sent+h.Received)
	}
	scale := 1.0
	if ch.Max > 0 {
		scale = float64(ch.H-20) / float64(ch.Max)
	}
	slot := float64(ch.W) / float64(len(hours))
	for i, h := range hours {
		b := bar{X: float64(i)*slot + slot*0.1, W: slot * 0.8, Sent: h.Sent, Received: h.Received}
		b.SentH = float64(h.Sent) * scale
		b.RecvH = float64(h.Received) * scale
		b.SentY = float64(ch.H-20) - b.SentH
		b.RecvY = b.SentY - b.RecvH
		b.Title = h.Hour.Local().Format("Jan 2 15:00") + ": " + strconv.Itoa(h.Sent) + " sent, " + strconv.Itoa(h.Received) + " received"
		ch.Bars = append(ch.Bars, b)
		if labelEvery > 0 && i%labelEvery == 0 {
			f := "15:00"
			if labelEvery >= 24 {
				f = "Mon 2"
			}
			ch.Labels = append(ch.Labels, label{X: float64(i) * slot, Text: h.Hour.Local().Format(f)})
		}
	}
	return ch
}
