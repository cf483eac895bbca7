// Package metrics counts what the mail host does, for Prometheus.
//
// internal/serve builds one *Metrics with New (its own registry: nothing
// is ever registered on the global default one) and passes it to the
// smtp, imap and web packages, which call its methods at the events that
// matter. It lived in store/metrics; protocol vocabulary (SMTP replies,
// IMAP logins) does not belong in the store. It may import the store (for
// the gauges read at scrape time), never a protocol package.
// Every method is safe on a nil *Metrics, so a package works the same
// with metrics off and tests need not build one.
//
// Gauges that describe state (queue length and age, store size,
// certificate expiry) are read from the store when /metrics is scraped,
// so they cannot drift from the truth.
//
// Label values must come from small fixed sets (protocol names, reason
// words below), never from user input: each distinct value is a series.
package metrics

import (
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authsmtp/authsmtp/store"
)

// Protocol label values.
const (
	ProtoSubmission = "submission" // 587 and 465
	ProtoMX         = "mx"         // 25
	ProtoIMAP       = "imap"       // 143 and 993
	ProtoWeb        = "web"
)

// Refusal reasons for Refused. Keep to these words.
const (
	ReasonAuth    = "auth"    // not logged in / credentials
	ReasonSendAs  = "send_as" // the send rule refused the sender
	ReasonRcpt    = "rcpt"    // unknown or refused recipient, relay attempt
	ReasonSize    = "size"    // over the size limit
	ReasonRate    = "rate"    // send caps, throttles, connection limits
	ReasonQuota   = "quota"   // mailbox over quota
	ReasonSyntax  = "syntax"  // bad commands, smuggling, malformed message
	ReasonPolicy  = "policy"  // SPF/DMARC/loop and other content rules
	ReasonStorage = "storage" // the store failed (disk full)
	ReasonOther   = "other"
)

// Delivery results for Delivery.
const (
	DeliveryOK        = "ok"
	DeliveryTempFail  = "temporary_failure"
	DeliveryPermFail  = "permanent_failure"
	DeliveryBounced   = "bounced" // gave up after the queue's max age
	DeliveryCaptured  = "captured"
	DeliveryLocalCopy = "local"
)

// Cert is one certificate's name and end of validity.
type Cert struct {
	Name     string
	NotAfter time.Time
}

// Store is what the gauges read of the store at scrape time: its cheap
// summary and the database file's path (for its size).
type Store interface {
	Stats() store.Stats
	Path() string
}

// Config is what New reads state from.
type Config struct {
	// Store backs the queue and size gauges; nil leaves them out.
	Store Store
	// Certs lists the certificates in use; nil leaves the expiry gauge out.
	Certs func() []Cert
	// Version is reported in authsmtp_build_info.
	Version string
}

// Metrics holds every metric. Use New; a nil *Metrics does nothing.
type Metrics struct {
	reg *prometheus.Registry

	connections *prometheus.CounterVec
	auth        *prometheus.CounterVec
	accepted    *prometheus.CounterVec
	refused     *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	sessions    *prometheus.GaugeVec
}

// New builds the metrics on a new registry.
func New(cfg Config) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsmtp_connections_total", Help: "Connections accepted, by protocol.",
		}, []string{"proto"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsmtp_auth_total", Help: "Login attempts, by protocol and result (ok, fail).",
		}, []string{"proto", "result"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsmtp_messages_accepted_total", Help: "Messages accepted (committed), by protocol.",
		}, []string{"proto"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsmtp_messages_refused_total", Help: "Messages or transactions refused, by protocol and reason.",
		}, []string{"proto", "reason"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsmtp_delivery_attempts_total", Help: "Outbound delivery attempts, by result.",
		}, []string{"result"}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authsmtp_sessions", Help: "Open sessions, by protocol.",
		}, []string{"proto"}),
	}
	reg.MustRegister(m.connections, m.auth, m.accepted, m.refused, m.deliveries, m.sessions)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authsmtp_build_info", Help: "Always 1; the version is a label.", ConstLabels: prometheus.Labels{"version": cfg.Version},
	}, func() float64 { return 1 }))
	// Known label values start at zero, so rate() and absent() work from
	// the first scrape.
	for _, p := range []string{ProtoSubmission, ProtoMX, ProtoIMAP, ProtoWeb} {
		m.connections.WithLabelValues(p)
		m.auth.WithLabelValues(p, "ok")
		m.auth.WithLabelValues(p, "fail")
	}
	for _, p := range []string{ProtoSubmission, ProtoMX} {
		m.accepted.WithLabelValues(p)
	}
	m.sessions.WithLabelValues(ProtoIMAP)
	if st := cfg.Store; st != nil {
		reg.MustRegister(newStoreCollector(st))
	}
	if cfg.Certs != nil {
		reg.MustRegister(&certCollector{certs: cfg.Certs, desc: prometheus.NewDesc(
			"authsmtp_cert_expiry_timestamp_seconds", "When each certificate in use expires (Unix time).", []string{"name"}, nil)})
	}
	return m
}

// Registry is the registry the metrics are on (to add more, or to gather).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves /metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// Connection counts one accepted connection.
func (m *Metrics) Connection(proto string) {
	if m != nil {
		m.connections.WithLabelValues(proto).Inc()
	}
}

// Auth counts one login attempt.
func (m *Metrics) Auth(proto string, ok bool) {
	if m == nil {
		return
	}
	r := "fail"
	if ok {
		r = "ok"
	}
	m.auth.WithLabelValues(proto, r).Inc()
}

// Accepted counts one committed message.
func (m *Metrics) Accepted(proto string) {
	if m != nil {
		m.accepted.WithLabelValues(proto).Inc()
	}
}

// Refused counts one refused message or transaction; reason is one of the
// Reason constants.
func (m *Metrics) Refused(proto, reason string) {
	if m != nil {
		m.refused.WithLabelValues(proto, reason).Inc()
	}
}

// Delivery counts one outbound delivery attempt; result is one of the
// Delivery constants.
func (m *Metrics) Delivery(result string) {
	if m != nil {
		m.deliveries.WithLabelValues(result).Inc()
	}
}

// Session counts an open session until the returned func is called.
func (m *Metrics) Session(proto string) (end func()) {
	if m == nil {
		return func() {}
	}
	g := m.sessions.WithLabelValues(proto)
	g.Inc()
	return g.Dec
}

// storeCollector reads the queue and the file size at scrape time.
type storeCollector struct {
	st                            Store
	queueLen, queueAge, storeSize *prometheus.Desc
	domains, users                *prometheus.Desc
}

func newStoreCollector(st Store) *storeCollector {
	return &storeCollector{
		st:        st,
		queueLen:  prometheus.NewDesc("authsmtp_queue_messages", "Messages waiting in the outbound queue.", nil, nil),
		queueAge:  prometheus.NewDesc("authsmtp_queue_oldest_age_seconds", "Age of the oldest queued message (0 when empty).", nil, nil),
		storeSize: prometheus.NewDesc("authsmtp_store_bytes", "Size of the database file.", nil, nil),
		domains:   prometheus.NewDesc("authsmtp_domains", "Hosted domains.", nil, nil),
		users:     prometheus.NewDesc("authsmtp_users", "Mailbox users.", nil, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queueLen
	ch <- c.queueAge
	ch <- c.storeSize
	ch <- c.domains
	ch <- c.users
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(c.queueLen, prometheus.GaugeValue, float64(s.Queue))
	age := 0.0
	if !s.QueueOldest.IsZero() {
		age = time.Since(s.QueueOldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.queueAge, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.domains, prometheus.GaugeValue, float64(s.Domains))
	ch <- prometheus.MustNewConstMetric(c.users, prometheus.GaugeValue, float64(s.Users))
	if fi, err := os.Stat(c.st.Path()); err == nil {
		ch <- prometheus.MustNewConstMetric(c.storeSize, prometheus.GaugeValue, float64(fi.Size()))
	}
}

type certCollector struct {
	certs func() []Cert
	desc  *prometheus.Desc
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, cert := range c.certs() {
		if seen[cert.Name] {
			continue // one series per name
		}
		seen[cert.Name] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), cert.Name)
	}
}

// ReasonFor maps an SMTP reply (code and enhanced status code, RFC 3463)
// to a refusal reason, so SMTP code can count what it answered.
func ReasonFor(code int, enhanced [3]int) string {
	subject, detail := enhanced[1], enhanced[2]
	switch {
	case subject == 7 && code < 500:
		return ReasonRate // throttles, send caps, rate limits
	case subject == 7 && detail == 1 && code == 554:
		return ReasonRcpt // relay refused
	case subject == 7 && detail == 1:
		return ReasonSendAs
	case subject == 7 && (detail == 0 || detail == 8):
		return ReasonAuth
	case subject == 7:
		return ReasonPolicy
	case subject == 1:
		return ReasonRcpt
	case subject == 2 && detail == 2:
		return ReasonQuota
	case subject == 3 && detail == 4, subject == 2 && detail == 3:
		return ReasonSize
	case subject == 3 && detail == 1:
		return ReasonStorage
	case subject == 5 && detail == 3:
		return ReasonRate
	case subject == 5, subject == 6:
		return ReasonSyntax
	case subject == 4:
		return ReasonPolicy
	}
	return ReasonOther
}
