package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// aliasCommands manage aliases (and their send-as grants).
func aliasCommands() []Command {
	return []Command{
		{Words: "alias add", Usage: "ADDRESS TARGET... [--send-as USER]", NArgs: [2]int{2, 100}, Extras: []string{"send-as="}, Run: cmdAliasAdd},
		{Words: "alias remove", Usage: "ADDRESS", NArgs: [2]int{1, 1}, Run: cmdAliasRemove},
		{Words: "alias list", Usage: "[DOMAIN]", NArgs: [2]int{0, 1}, Run: cmdAliasList},
	}
}

func cmdAliasAdd(e *Env) error {
	a, err := e.St.AddAlias(e.Args[0], e.Args[1:], e.Flags["send-as"])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "alias %s → %s\n", a.Address, strings.Join(a.Targets, ", "))
	if len(a.SendAs) > 0 {
		fmt.Fprintf(e.Out, "%s may send as %s\n", a.SendAs[0], a.Address)
	}
	return nil
}

func cmdAliasRemove(e *Env) error {
	if err := e.St.RemoveAlias(e.Args[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "alias %s removed\n", e.Args[0])
	return nil
}

func cmdAliasList(e *Env) error {
	dom := ""
	if len(e.Args) > 0 {
		dom = e.Args[0]
		if _, err := e.St.GetDomain(dom); err != nil {
			return err
		}
	}
	as, err := e.St.ListAliases(dom)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tTARGETS\tSEND-AS")
	for _, a := range as {
		sa := "-"
		if len(a.SendAs) > 0 {
			sa = strings.Join(a.SendAs, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Address, strings.Join(a.Targets, ","), sa)
	}
	return tw.Flush()
}
