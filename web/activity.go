package web

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/lobby-dev/lobby"
)

// activityCharts are an owner's charts of its consultant c: messages, subscribers and
// reply latency a day, from days (oldest first), and net earnings a month, from es
// (newest first, as the ledger reports them), each with its sentence.
func activityCharts(c *lobby.Consultant, days []lobby.DayActivity, es []lobby.Earnings, now time.Time) []chart {
	n := len(days)
	labels, axis := make([]string, n), make([]string, n)
	answered, failed, subscribers := make([]int64, n), make([]int64, n), make([]int64, n)
	p50, p95 := make([]*int64, n), make([]*int64, n)
	var total, totalFailed int64
	busiest, slowest := -1, -1
	for i, d := range days {
		labels[i] = d.Day.Format("Mon Jan 2")
		if (n-1-i)%7 == 0 && i < n-1 {
			axis[i] = d.Day.Format("Jan 2")
		}
		answered[i], failed[i], subscribers[i] = d.Messages-d.Failed, d.Failed, d.Subscribers
		p50[i], p95[i] = d.LatencyP50MS, d.LatencyP95MS
		total, totalFailed = total+d.Messages, totalFailed+d.Failed
		if d.Messages > 0 && (busiest < 0 || d.Messages > days[busiest].Messages) {
			busiest = i
		}
		if d.LatencyP95MS != nil && (slowest < 0 || *d.LatencyP95MS > *days[slowest].LatencyP95MS) {
			slowest = i
		}
	}
	daily := "One bar a day, UTC, the last today so far."

	messages := newChart(stacked, "messages-chart", "Buyer messages a day over the last 30 days, answered and failed", counts("a day"), labels, axis,
		series{"ok", "answered", figures(answered)}, series{"failed", "failed", figures(failed)})
	messages.Note = daily
	messages.Summary = fmt.Sprintf("No buyer has sent %s a message in the last 30 days.", c.Name)
	if total > 0 {
		messages.Summary = fmt.Sprintf("Buyers sent %s %s in the last 30 days; %s failed. The busiest day was %s, with %s.",
			c.Name, plural(total, "message"), plural(totalFailed, "reply", "replies"), days[busiest].Day.Format("Jan 2"), plural(days[busiest].Messages, "message"))
	}

	subs := newChart(stacked, "subscribers-chart", "Subscribers at the end of each day over the last 30 days", counts(""), labels, axis,
		series{"held", "subscribers", figures(subscribers)})
	subs.Note = "Subscriptions held, active or past due, at each day's end, UTC; today's as of now."
	if n > 0 {
		subs.Summary = fmt.Sprintf("%s has %s now, against %d thirty days ago.", c.Name, plural(subscribers[n-1], "subscriber"), subscribers[0])
	}

	latency := newChart(lines, "latency-chart", "Reply latency a day over the last 30 days: median and 95th percentile", chartFigures{formatMS, ""}, labels, axis,
		series{"p50", "median", p50}, series{"p95", "95th percentile", p95})
	latency.Note = "From the buyer's message to the reply's end, completed replies only; a day without one has no point."
	latency.Summary = "No reply completed in the last 30 days, so there is no latency to show."
	for i := n - 1; i >= 0; i-- {
		if d := days[i]; d.LatencyP50MS != nil {
			latency.Summary = fmt.Sprintf("On %s, the last day with replies, half took at most %s and 95%% at most %s. The slowest day was %s, its 95th percentile %s.",
				d.Day.Format("Jan 2"), formatMS(*d.LatencyP50MS), formatMS(*d.LatencyP95MS), days[slowest].Day.Format("Jan 2"), formatMS(*days[slowest].LatencyP95MS))
			break
		}
	}
	return []chart{messages, subs, latency, earningsChart(c, es, now)}
}

// earningsMonths is how many months the earnings chart shows.
const earningsMonths = 12

// earningsChart charts the net earnings of the last twelve months in the currency the
// consultant earns most in; another currency's months are said in its sentence.
func earningsChart(c *lobby.Consultant, es []lobby.Earnings, now time.Time) chart {
	byCurrency := map[string]int64{}
	main := "usd"
	for _, e := range es {
		byCurrency[e.Currency] += e.NetCents
		if byCurrency[e.Currency] > byCurrency[main] {
			main = e.Currency
		}
	}
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	labels, axis, net := make([]string, earningsMonths), make([]string, earningsMonths), make([]int64, earningsMonths)
	at := map[string]int{}
	for i := range earningsMonths {
		m := this.AddDate(0, i+1-earningsMonths, 0)
		labels[i], at[m.Format("2006-01")] = m.Format("January 2006"), i
		if i%3 == 0 {
			axis[i] = m.Format("Jan")
		}
	}
	var total int64
	for _, e := range es {
		if i, ok := at[e.Period]; ok && e.Currency == main {
			net[i] += e.NetCents
			total += e.NetCents
		}
	}
	money := chartFigures{func(cents int64) string { return formatMoney(cents, main) }, ""}
	ch := newChart(stacked, "earnings-chart", "Net earnings a month over the last 12 months", money, labels, axis, series{"ok", "net", figures(net)})
	ch.Note = "What reaches you: buyers' payments less refunds and the platform's fee, by month, UTC. With local payments nothing is charged."
	ch.Summary = fmt.Sprintf("%s has earned nothing in the last 12 months.", c.Name)
	if total != 0 {
		ch.Summary = fmt.Sprintf("%s earned %s net in the last 12 months, %s of it this month.", c.Name, formatMoney(total, main), formatMoney(net[earningsMonths-1], main))
	}
	for _, cur := range slices.Sorted(maps.Keys(byCurrency)) {
		if sum := byCurrency[cur]; cur != main && sum != 0 {
			ch.Summary += fmt.Sprintf(" It also earned %s in the last 24 months, not charted.", formatMoney(sum, cur))
		}
	}
	return ch
}

// plural writes n things: "1 message", "3 messages", or with the plural given.
func plural(n int64, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return formatInt(n) + " " + many[0]
	}
	return formatInt(n) + " " + one + "s"
}
