package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"vmrd/internal/pin"
)

// pinCollector exports the PIN limiter's counters at scrape time.
type pinCollector struct{ v *pin.Verifier }

var (
	descPINChecks   = prometheus.NewDesc("vmrd_pin_checks_total", "PIN checks by result: host, guest, bad (wrong), blocked (refused without checking).", []string{"result"}, nil)
	descPINBlocks   = prometheus.NewDesc("vmrd_pin_blocks_total", "PIN entry blocks started, by scope (room or source).", []string{"scope"}, nil)
	descPINBlocked  = prometheus.NewDesc("vmrd_pin_blocked", "Rooms and sources whose PIN entry is blocked now, by scope.", []string{"scope"}, nil)
	descPINHashSecs = prometheus.NewDesc("vmrd_pin_hash_seconds_total", "Time spent computing PIN hashes.", nil, nil)
	descPINWaiting  = prometheus.NewDesc("vmrd_pin_checks_waiting", "PIN checks waiting for a hashing slot.", nil, nil)
)

func (c pinCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPINChecks, descPINBlocks, descPINBlocked, descPINHashSecs, descPINWaiting} {
		ch <- d
	}
}

func (c pinCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.v.Stats()
	for r := pin.ResultHost; r <= pin.ResultBlocked; r++ {
		ch <- prometheus.MustNewConstMetric(descPINChecks, prometheus.CounterValue, float64(s.Checks[r]), r.String())
	}
	ch <- prometheus.MustNewConstMetric(descPINBlocks, prometheus.CounterValue, float64(s.RoomBlocks), "room")
	ch <- prometheus.MustNewConstMetric(descPINBlocks, prometheus.CounterValue, float64(s.SourceBlocks), "source")
	ch <- prometheus.MustNewConstMetric(descPINBlocked, prometheus.GaugeValue, float64(s.BlockedRooms), "room")
	ch <- prometheus.MustNewConstMetric(descPINBlocked, prometheus.GaugeValue, float64(s.BlockedSources), "source")
	ch <- prometheus.MustNewConstMetric(descPINHashSecs, prometheus.CounterValue, s.HashTime.Seconds())
	ch <- prometheus.MustNewConstMetric(descPINWaiting, prometheus.GaugeValue, float64(s.Waiting))
}
