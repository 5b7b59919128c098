package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

// testActivity: the owner's days count the consultant's own buyer messages and failed
// replies on the day they were sent, the completed replies' latency percentiles, and
// the subscriptions held at each day's end, a canceled one until its period ends;
// another consultant's work is not in them.
func testActivity(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	c, subA := chatPair(t, st, "busy")
	_, other := chatPair(t, st, "elsewhere")
	start := st.Clock.Now()
	exchange := func(sub *lobby.Subscription, took time.Duration, status string) {
		t.Helper()
		ex, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "hello"})
		must(t, err)
		st.Clock.Add(took)
		_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Content: "hi", Status: status, Error: "the agent failed"})
		must(t, err)
	}
	// The first day: 20 replies taking 1 s to 20 s, and one failed.
	for i := range 20 {
		exchange(subA, time.Duration(i+1)*time.Second, lobby.MessageComplete)
	}
	exchange(subA, time.Second, lobby.MessageFailed)
	exchange(other, time.Hour, lobby.MessageComplete) // not this consultant's

	// Two days on, a second buyer; the first cancels, ending with its period.
	st.Clock.Add(48 * time.Hour)
	_, buyerB := SignIn(t, st.Auth, "second-buyer@example.com")
	subB, _ := Subscribe(t, st.Subscriptions, buyerB.ID, c.ID, "starter")
	exchange(subB, 500*time.Millisecond, lobby.MessageComplete)
	_, err := st.Subscriptions.CancelSubscription(ctx, subA.UserID, subA.ID)
	must(t, err)

	find := func() map[string]lobby.DayActivity {
		t.Helper()
		days, err := st.Activity.FindActivity(ctx, c.ID)
		must(t, err)
		if len(days) != lobby.ActivityDays {
			t.Fatalf("%d days, want %d", len(days), lobby.ActivityDays)
		}
		now := st.Clock.Now()
		if today := days[len(days)-1].Day; !today.Equal(time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("the last day is %s, want today (%s)", today, now)
		}
		byDay := map[string]lobby.DayActivity{}
		for _, d := range days {
			byDay[d.Day.Format(time.DateOnly)] = d
		}
		return byDay
	}
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	ms := func(v *int64) int64 {
		if v == nil {
			return -1
		}
		return *v
	}
	byDay := find()
	first := byDay[day(start)]
	if first.Messages != 21 || first.Failed != 1 || ms(first.LatencyP50MS) != 10_000 || ms(first.LatencyP95MS) != 19_000 || first.Subscribers != 1 {
		t.Errorf("the first day: %d messages, %d failed, p50 %d ms, p95 %d ms, %d subscribers; want 21, 1, 10000, 19000, 1",
			first.Messages, first.Failed, ms(first.LatencyP50MS), ms(first.LatencyP95MS), first.Subscribers)
	}
	quiet := byDay[day(start.Add(24*time.Hour))]
	if quiet.Messages != 0 || quiet.LatencyP50MS != nil || quiet.Subscribers != 1 {
		t.Errorf("the quiet day between: %+v, want no messages, no latency, 1 subscriber", quiet)
	}
	third := byDay[day(start.Add(48*time.Hour))]
	if third.Messages != 1 || ms(third.LatencyP50MS) != 500 || third.Subscribers != 2 {
		t.Errorf("the third day: %+v, want 1 message of 500 ms and 2 subscribers", third)
	}

	counts, err := st.Activity.CountMessages(ctx, c.OwnerID)
	must(t, err)
	if len(counts) != 1 || counts[c.ID] != 22 {
		t.Errorf("the owner's counts: %v, want %s: 22 (another owner's consultant not among them)", counts, c.ID)
	}

	// A day after the first buyer's period: the canceled subscription ended with it.
	st.Clock.Add(subA.PeriodEnd.Add(25 * time.Hour).Sub(st.Clock.Now()))
	byDay = find()
	if before := byDay[day(subA.PeriodEnd.Add(-24*time.Hour))]; before.Subscribers != 2 {
		t.Errorf("the day before the first buyer's period ended: %d subscribers, want 2", before.Subscribers)
	}
	if ended := byDay[day(subA.PeriodEnd)]; ended.Subscribers != 1 {
		t.Errorf("the day the first buyer's period ended: %d subscribers, want 1", ended.Subscribers)
	}
	if today := byDay[day(st.Clock.Now())]; today.Subscribers != 1 || today.Messages != 0 {
		t.Errorf("today: %+v, want 1 subscriber and no messages", today)
	}
	if counts, err := st.Activity.CountMessages(ctx, c.OwnerID); err != nil || len(counts) != 1 || counts[c.ID] != 1 {
		t.Errorf("the owner's counts when the first day is over 30 days old: %v, %v; want the second buyer's 1", counts, err)
	}
	if _, ok := byDay[day(start)]; ok {
		t.Errorf("the first day is still reported, more than %d days ago", lobby.ActivityDays)
	}

	// A consultant with nothing has every day, all zero.
	_, owner := SignIn(t, st.Auth, "idle-owner@example.com")
	idle := NewConsultant(owner.ID, "idle")
	_, err = st.Consultants.CreateConsultant(ctx, idle, lobby.ValidateOptions{})
	must(t, err)
	days, err := st.Activity.FindActivity(ctx, idle.ID)
	must(t, err)
	for _, d := range days {
		if d.Messages != 0 || d.Subscribers != 0 || d.LatencyP95MS != nil {
			t.Fatalf("an idle consultant's day: %+v", d)
		}
	}
}
