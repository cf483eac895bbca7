package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/authsmtp/authsmtp/acme"
)

// tlsCommands report on certificates.
func tlsCommands() []Command {
	return []Command{
		{Words: "tls status", NArgs: [2]int{0, 0}, Run: cmdTLSStatus},
		{Words: "tls report-send", Usage: "[--today]", NArgs: [2]int{0, 0}, Run: cmdTLSReportSend, Extras: []string{"today"}},
	}
}

// cmdTLSStatus prints each name, where its certificate comes from, the
// issuer, the expiry and the last error. Inside the running server it
// shows what is served now; without one, what the store holds.
func cmdTLSStatus(e *Env) error {
	var sts []acme.CertStatus
	if e.Live != nil {
		sts = e.Live.TLSStatus()
	} else {
		var err error
		if sts, err = acme.ReadStatus(e.St); err != nil {
			return fmt.Errorf("reading certificate status: %w", err)
		}
		fmt.Fprintln(e.Out, "(no server running: showing what the data directory holds)")
	}
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tISSUER\tEXPIRES\tLAST ERROR")
	for _, s := range sts {
		exp := "-"
		if !s.NotAfter.IsZero() {
			exp = s.NotAfter.UTC().Format(time.RFC3339)
		}
		last := "-"
		if s.LastError != "" {
			last = s.LastError
			if !s.ErrorAt.IsZero() {
				last = s.ErrorAt.UTC().Format(time.RFC3339) + " " + last
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Source, s.Issuer, exp, last)
	}
	return tw.Flush()
}
