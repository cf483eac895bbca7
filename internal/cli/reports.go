package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// cmdDomainReports prints the DMARC and TLS reports received for a
// domain over the last --days (7): the sending sources per day, those
// failing both SPF and DKIM alignment first, then the TLS results.
func cmdDomainReports(e *Env) error {
	days := 7
	if v, ok := e.Flags["days"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3660 {
			return fmt.Errorf("--days %q: want a number of days (1 or more)", v)
		}
		days = n
	}
	sum, err := e.St.SummarizeReports(e.Args[0], days, time.Now())
	if err != nil {
		return err
	}
	if _, noDNS := e.Flags["no-dns"]; !noDNS && len(sum.DMARC.Rows) > 0 {
		if res, err := dnsx.New(e.Cfg.DNS); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			reports.FillNames(ctx, sum.DMARC.Rows, res.LookupAddr, 100)
			cancel()
		}
	}
	if _, js := e.Flags["json"]; js {
		enc := json.NewEncoder(e.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	printReports(e, sum, days)
	return nil
}

func printReports(e *Env, sum store.ReportSummary, days int) {
	d := sum.DMARC
	fmt.Fprintf(e.Out, "Reports for %s, last %d days: %d DMARC reports (%d messages: %d aligned, %d failing both SPF and DKIM), %d TLS results\n",
		sum.Domain, days, d.Reports, d.Messages, d.Passing, d.Failing, len(sum.TLS))
	if len(d.Rows) > 0 {
		fmt.Fprintln(e.Out, "\nDMARC: sending sources (needing attention first)")
		tw := tabwriter.NewWriter(e.Out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\tDAY\tSOURCE\tNAME\tFROM\tCOUNT\tSPF\tDKIM\tALIGNED\tDISPOSITION\tREPORTERS")
		for _, r := range d.Rows {
			flag := ""
			if r.Attention {
				flag = "!"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", flag, r.Day, r.IP, orDash(r.Name), r.HeaderFrom, r.Count,
				r.SPF, r.DKIM, aligned(r), r.Disposition, strings.Join(r.Reporters, ", "))
		}
		tw.Flush()
		if d.Failing > 0 {
			fmt.Fprintln(e.Out, "! fails both SPF and DKIM alignment: someone spoofing the domain, or a service sending for it that is not set up (add it to SPF or have it sign with DKIM)")
		}
	}
	if len(sum.TLS) > 0 {
		fmt.Fprintln(e.Out, "\nTLS (RFC 8460): sessions reported by senders")
		tw := tabwriter.NewWriter(e.Out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DAY\tREPORTER\tPOLICY\tDOMAIN\tMODE\tSUCCESSFUL\tFAILED\tFAILURES")
		for _, r := range sum.TLS {
			var fs []string
			for _, f := range r.Failures {
				fs = append(fs, fmt.Sprintf("%s %d", f.Type, f.Count))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Day, r.Org, r.PolicyType, r.PolicyDomain, orDash(r.Mode), r.Successful, r.Failed, orDash(strings.Join(fs, ", ")))
		}
		tw.Flush()
	}
	if len(sum.List) == 0 {
		fmt.Fprintf(e.Out, "No reports yet: publish rua=mailto:dmarc-reports@%s in _dmarc and rua=mailto:tls-reports@%s in _smtp._tls (authsmtp domain dns %s).\n", sum.Domain, sum.Domain, sum.Domain)
	}
}

func aligned(r reports.SourceRow) string {
	switch {
	case r.SPFAligned && r.DKIMAligned:
		return "spf+dkim"
	case r.SPFAligned:
		return "spf"
	case r.DKIMAligned:
		return "dkim"
	}
	return "none"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
