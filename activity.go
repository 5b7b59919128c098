package lobby

import (
	"context"
	"time"
)

// ActivityDays is how many days of activity are reported, today included.
const ActivityDays = 30

// DayActivity is one UTC day of a consultant's work and audience, as its owner's
// charts show it. Messages are those still stored: a conversation its buyer deleted
// leaves the figures with it, though not the subscription's usage.
type DayActivity struct {
	Day time.Time `json:"day"` // midnight UTC
	// Messages is how many buyer messages were sent that day; Failed how many of
	// their replies failed.
	Messages int64 `json:"messages"`
	Failed   int64 `json:"failed"`
	// Subscribers is how many subscriptions were held (active or past due) at the
	// day's end, or now for today.
	Subscribers int64 `json:"subscribers"`
	// LatencyP50MS and LatencyP95MS are how long the day's completed replies took,
	// from the buyer's message to the reply's end, in milliseconds; nil when none
	// completed.
	LatencyP50MS *int64 `json:"latency_p50_ms"`
	LatencyP95MS *int64 `json:"latency_p95_ms"`
}

// MaxActivityReplies bounds the replies read for one report: beyond it, the oldest
// days of a very busy consultant are counted from the newest replies only.
const MaxActivityReplies = 200_000

// ActivityService reads what a consultant's owner charts.
type ActivityService interface {
	// FindActivity returns the consultant's last ActivityDays days, oldest first,
	// every day present (zeros when nothing happened).
	FindActivity(ctx context.Context, consultantID string) ([]DayActivity, error)

	// CountMessages returns how many buyer messages each of the owner's consultants
	// was sent in the same ActivityDays days, by consultant id; one with none is
	// absent.
	CountMessages(ctx context.Context, ownerID string) (map[string]int64, error)
}
