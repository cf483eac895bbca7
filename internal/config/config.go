// Package config holds the settings of serve and of the admin commands:
// every flag, its default, and its AUTHSMTP_* environment variable. Both
// internal/serve and internal/cli read it, so one environment works for
// both. It imports only the standard library.
package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Config holds every flag of serve and the admin commands. Each flag can
// also be set as AUTHSMTP_<FLAG> (upper case, "-" as "_"); a flag given on
// the command line wins over the environment.
type Config struct {
	Data string
	// Store names the store backend: "" or "bbolt" is the file in Data,
	// a postgres:// URL is PostgreSQL (shared by several nodes).
	Store string
	// BodySegments: store.Options.BodySegments.
	BodySegments bool
	Hostname     string
	Demo         bool
	Capture      bool

	// Listeners; "" turns one off.
	Submission  string
	Submissions string
	MX          string
	IMAP        string
	IMAPS       string
	HTTPS       string
	HTTP        string
	Metrics     string
	// Pprof also serves Go's /debug/pprof/ on the Metrics listener.
	Pprof bool

	// TLS
	TLSMode     string
	TLSCert     string
	TLSKey      string
	ACMECA      string
	ACMEEmail   string
	ACMEDomains bool
	ACMEStaging bool
	ACMEEABKID  string
	ACMEEABHMAC string
	ACMECARoot  string

	// Limits
	MaxSize        int64
	MaxRecipients  int
	MaxLine        int
	CmdTimeout     time.Duration
	DataTimeout    time.Duration
	MaxConnsPerIP  int
	MaxInflight    int64
	SendPerHour    int
	SendPerDay     int
	RcptsPerDay    int
	DefaultQuota   int64
	MXPerIPPerHour int
	MXMaxLine      int

	// Delivery
	DNS           string
	DNSSEC        bool
	DANERequired  string
	Relay         string
	RelayUser     string
	RelayPassword string
	QueueMaxAge   time.Duration
	RetrySchedule string
	Workers       int
	// QueueLease is how long a node's claim on a queue entry holds
	// without renewal (several nodes on one database).
	QueueLease time.Duration
	// DMARCReportsFrom is the address DMARC aggregate reports are sent
	// from ("": none are sent).
	DMARCReportsFrom string
	// TestDeliveryPort is the port outbound delivery connects to instead
	// of 25 (0: 25). Tests only: it lets instances on loopback deliver to
	// each other without root (--test-delivery-port,
	// AUTHSMTP_TEST_DELIVERY_PORT).
	TestDeliveryPort int

	// Inbound spam defence
	JunkFilter       bool
	JunkMinTrained   int
	JunkThreshold    float64
	DNSBL            string
	DNSWL            string
	DNSListTimeout   time.Duration
	Milter           string
	SubmissionMilter string
	OutboundIP       string
	MilterDefault    string
	MilterTimeout    time.Duration

	// Operations
	// MemoryLimit is the Go runtime's soft memory limit in MiB (0: 64 MiB
	// above the in-flight budget; -1: none).
	MemoryLimit int64
	LogFormat   string
	LogLevel    string
	Grace       time.Duration
	// ControlTimeout: an admin command gives up when the running server
	// sends nothing on the control socket for this long.
	ControlTimeout time.Duration
}

// Default is the configuration with no flag or variable set.
func Default() Config {
	return Config{
		Data:           "./data",
		Submission:     ":587",
		Submissions:    ":465",
		MX:             ":25",
		IMAP:           ":143",
		IMAPS:          ":993",
		HTTPS:          ":443",
		HTTP:           ":80",
		TLSMode:        "",
		ACMECA:         "https://acme-v02.api.letsencrypt.org/directory",
		MaxSize:        25 << 20,
		MaxRecipients:  100,
		MaxLine:        4096,
		CmdTimeout:     5 * time.Minute,
		DataTimeout:    10 * time.Minute,
		MaxConnsPerIP:  20,
		SendPerHour:    500,
		SendPerDay:     2000,
		RcptsPerDay:    5000,
		MXPerIPPerHour: 1000,
		MXMaxLine:      64 << 10,
		QueueMaxAge:    5 * 24 * time.Hour,
		RetrySchedule:  "1m,5m,15m,30m,1h",
		QueueLease:     time.Minute,
		Workers:        8,
		JunkFilter:     true,
		JunkMinTrained: 10,
		JunkThreshold:  0.95,
		DNSListTimeout: 5 * time.Second,
		MilterDefault:  "tempfail",
		MilterTimeout:  30 * time.Second,
		LogFormat:      "text",
		LogLevel:       "info",
		Grace:          20 * time.Second,
		ControlTimeout: 30 * time.Second,
	}
}

// FlagSet builds the flags of serve (all of them) or of an admin command
// (only --data and the logging ones matter there, but all are accepted so
// one environment works for both).
func (c *Config) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.Data, "data", c.Data, "data directory (holds authsmtp.db and the control socket)")
	fs.BoolVar(&c.BodySegments, "body-segments", c.BodySegments, "keep new message bodies in append-only segment files beside the bbolt database (<data>/bodies/) instead of in it: smaller commits and no body pages mapped in memory, one more fdatasync per group commit")
	fs.StringVar(&c.Store, "store", c.Store, "store backend: bbolt (the file in --data, the default) or a PostgreSQL URL postgres://user:pass@host/db?sslmode=… shared by several nodes")
	fs.StringVar(&c.Hostname, "hostname", c.Hostname, "this server's public host name (EHLO, certificates); default: the system's")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "demo mode: high ports on 127.0.0.1, a demo domain and user, outbound mail captured")
	fs.BoolVar(&c.Capture, "capture", c.Capture, "keep outbound mail instead of delivering it (shown per login)")

	fs.StringVar(&c.Submission, "submission", c.Submission, "SMTP submission listener with STARTTLS (empty: off)")
	fs.StringVar(&c.Submissions, "submissions", c.Submissions, "SMTP submission listener with implicit TLS (empty: off)")
	fs.StringVar(&c.MX, "mx", c.MX, "inbound MX listener (empty: off)")
	fs.StringVar(&c.IMAP, "imap", c.IMAP, "IMAP listener with STARTTLS (empty: off)")
	fs.StringVar(&c.IMAPS, "imaps", c.IMAPS, "IMAP listener with implicit TLS (empty: off)")
	fs.StringVar(&c.HTTPS, "https", c.HTTPS, "HTTPS listener: admin panel and webmail (empty: off)")
	fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP listener: redirects to HTTPS, ACME HTTP-01 (empty: off)")
	fs.StringVar(&c.Metrics, "metrics", c.Metrics, "Prometheus /metrics listener (empty: off)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "also serve Go's /debug/pprof/ profiles on the --metrics listener (no login: loopback only)")

	fs.StringVar(&c.TLSMode, "tls", c.TLSMode, "certificate source: acme, self-signed or files (default: acme for a public --hostname, else self-signed)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "certificate file (PEM) for --tls files")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "private key file (PEM) for --tls files")
	fs.StringVar(&c.ACMECA, "acme-ca", c.ACMECA, "ACME directory URL")
	fs.StringVar(&c.ACMEEmail, "acme-email", c.ACMEEmail, "contact email for the ACME account")
	fs.BoolVar(&c.ACMEDomains, "acme-domains", c.ACMEDomains, "also get certificates for mail.<domain> and autoconfig.<domain> of hosted domains")
	fs.BoolVar(&c.ACMEStaging, "acme-staging", c.ACMEStaging, "use Let's Encrypt's staging CA")
	fs.StringVar(&c.ACMEEABKID, "acme-eab-kid", c.ACMEEABKID, "ACME external account binding key id")
	fs.StringVar(&c.ACMEEABHMAC, "acme-eab-hmac", c.ACMEEABHMAC, "ACME external account binding HMAC key (base64url)")
	fs.StringVar(&c.ACMECARoot, "acme-ca-root", c.ACMECARoot, "PEM file of the ACME server's TLS root (private CAs)")

	fs.Int64Var(&c.MaxSize, "max-size", c.MaxSize, "largest message accepted, in bytes")
	fs.IntVar(&c.MaxRecipients, "max-recipients", c.MaxRecipients, "recipients per message")
	fs.IntVar(&c.MaxLine, "max-line", c.MaxLine, "longest SMTP command or body line, in bytes")
	fs.DurationVar(&c.CmdTimeout, "cmd-timeout", c.CmdTimeout, "idle time allowed between SMTP commands")
	fs.DurationVar(&c.DataTimeout, "data-timeout", c.DataTimeout, "time allowed to send one message's data")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", c.MaxConnsPerIP, "simultaneous connections per remote IP")
	fs.Int64Var(&c.MaxInflight, "max-inflight", c.MaxInflight, "message bytes held in memory at once by SMTP and the MX; above it new mail gets 452 4.3.1, try later (0: 10 x --max-size, at least 64 MiB)")
	fs.IntVar(&c.SendPerHour, "send-per-hour", c.SendPerHour, "default messages per hour per login")
	fs.IntVar(&c.SendPerDay, "send-per-day", c.SendPerDay, "default messages per day per login")
	fs.IntVar(&c.RcptsPerDay, "rcpts-per-day", c.RcptsPerDay, "default recipients per day per login")
	fs.Int64Var(&c.DefaultQuota, "default-quota", c.DefaultQuota, "default mailbox quota per user in bytes (0: unlimited)")
	fs.IntVar(&c.MXPerIPPerHour, "mx-per-ip-per-hour", c.MXPerIPPerHour, "messages per hour accepted on the MX from one IP")
	fs.IntVar(&c.MXMaxLine, "mx-max-line", c.MXMaxLine, "longest command or body line on the MX, in bytes (real mail has long lines)")

	fs.StringVar(&c.DNS, "dns", c.DNS, "DNS server host:port for every lookup (default: the system's)")
	fs.BoolVar(&c.DNSSEC, "dnssec", c.DNSSEC, "trust the resolver (--dns) to validate DNSSEC: its AD bit counts, and authenticated TLSA records make outbound delivery use DANE (RFC 7672)")
	fs.StringVar(&c.DANERequired, "dane-required", c.DANERequired, "destination domains, comma-separated, that outbound mail reaches only over DANE-authenticated TLS (needs --dnssec; an MX host without authenticated TLSA records is not used, and TLS reports say dane-required)")
	fs.StringVar(&c.Relay, "relay", c.Relay, "smarthost host:port to send all outbound mail through")
	fs.StringVar(&c.RelayUser, "relay-user", c.RelayUser, "smarthost login")
	fs.StringVar(&c.RelayPassword, "relay-password", c.RelayPassword, "smarthost password")
	fs.DurationVar(&c.QueueMaxAge, "queue-max-age", c.QueueMaxAge, "give up and bounce after this long")
	fs.StringVar(&c.RetrySchedule, "retry-schedule", c.RetrySchedule, "delays between delivery attempts; the last repeats")
	fs.IntVar(&c.Workers, "workers", c.Workers, "outbound delivery workers")
	fs.DurationVar(&c.QueueLease, "queue-lease", c.QueueLease, "with several nodes on one database: how long a node's claim on a queue entry holds unrenewed, so how soon another node takes over the deliveries of a node that died")
	fs.StringVar(&c.DMARCReportsFrom, "dmarc-reports-from", c.DMARCReportsFrom, "send daily DMARC aggregate reports (RFC 7489) to domains that ask for them (rua=), from this address at a hosted domain (its DKIM key signs them); empty: none, and none in capture/demo mode")
	fs.IntVar(&c.TestDeliveryPort, "test-delivery-port", c.TestDeliveryPort, "tests only: the port outbound delivery connects to instead of 25 (0: 25)")

	fs.BoolVar(&c.JunkFilter, "junk-filter", c.JunkFilter, "per-user Bayesian junk filter on the MX, trained by users moving mail into and out of Junk")
	fs.IntVar(&c.JunkMinTrained, "junk-min-trained", c.JunkMinTrained, "messages a user (or domain) must have trained per class before the junk filter decides anything")
	fs.Float64Var(&c.JunkThreshold, "junk-threshold", c.JunkThreshold, "junk filter score (0..1) from which a message goes to Junk")
	fs.StringVar(&c.DNSBL, "dnsbl", c.DNSBL, "DNS blocklist zones, comma-separated; a listed client is refused at RCPT (554 5.7.1), or its mail goes to Junk with zone:junk")
	fs.StringVar(&c.DNSWL, "dnswl", c.DNSWL, "DNS allowlist zones, comma-separated; a listed client skips the blocklists and is never junked on the filter's verdict alone")
	fs.DurationVar(&c.DNSListTimeout, "dnsbl-timeout", c.DNSListTimeout, "time allowed per DNS list lookup (a failed lookup counts as not listed)")
	fs.StringVar(&c.Milter, "milter", c.Milter, "milters for MX mail, comma-separated host:port, inet:port@host or unix:/path (rspamd, spamass-milter, clamav-milter)")
	fs.StringVar(&c.OutboundIP, "outbound-ip", c.OutboundIP, "this server's public outbound IP address, looked up in the --dnsbl blocklists for the admin panel (default: the MX listener's address if public, else the system's source address toward the internet)")
	fs.StringVar(&c.SubmissionMilter, "submission-milter", c.SubmissionMilter, "milters for submitted mail (SMTP submission and webmail), same form as --milter (e.g. clamav-milter, rspamd); --milter-default and --milter-timeout apply")
	fs.StringVar(&c.MilterDefault, "milter-default", c.MilterDefault, "what happens to a message when a milter is down or too slow: tempfail or accept")
	fs.DurationVar(&c.MilterTimeout, "milter-timeout", c.MilterTimeout, "time allowed for one milter to judge one message")

	fs.Int64Var(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "soft limit of the Go runtime's memory in MiB: near it garbage is collected more often and freed memory goes back to the OS sooner (0: 64 MiB more than --max-inflight; -1: none; GOMEMLIMIT, when set, wins)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.DurationVar(&c.Grace, "grace", c.Grace, "on SIGTERM, time given to open sessions to finish")
	fs.DurationVar(&c.ControlTimeout, "control-timeout", c.ControlTimeout, "admin commands: give up when the running server is silent this long (long commands send heartbeats)")
	return fs
}

// Parse fills c from the environment, then from args. It returns the
// remaining positional arguments.
func (c *Config) Parse(name string, args []string) ([]string, error) {
	fs := c.FlagSet(name)
	// The caller says what went wrong in one line; no flag dump.
	fs.SetOutput(io.Discard)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := "AUTHSMTP_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %v", key, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	// Allow flags after positional arguments (authsmtp user add x --data d).
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

// flagError words the flag package's errors for a person; flag.ErrHelp
// stays as it is so callers can print the help.
func flagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Errorf("unknown flag %s (an argument that starts with \"-\" goes after --)", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Errorf("flag -%s needs a value", strings.TrimLeft(name, "-"))
	}
	return err
}
