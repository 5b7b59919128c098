package sqldb

import (
	"context"
	"slices"
	"time"

	"github.com/lobby-dev/lobby"
)

// ActivityService implements lobby.ActivityService.
type ActivityService struct{ db *DB }

var _ lobby.ActivityService = (*ActivityService)(nil)

// FindActivity implements lobby.ActivityService. Every buyer message is stored with
// its reply, so the replies of the window give both the day's messages and how long
// their answers took; the percentiles are taken in Go, the same on both stores.
func (s *ActivityService) FindActivity(ctx context.Context, consultantID string) ([]lobby.DayActivity, error) {
	now := s.db.now()
	first := activitySince(now)
	days := make([]lobby.DayActivity, lobby.ActivityDays)
	latencies := make([][]int64, lobby.ActivityDays)
	for i := range days {
		days[i].Day = first.AddDate(0, 0, i)
	}
	day := func(t time.Time) int { return int(t.UTC().Sub(first) / (24 * time.Hour)) }

	rows, err := s.db.read.QueryContext(ctx, `SELECT m.created_at, m.updated_at, m.status FROM messages m
		JOIN conversations c ON c.id = m.conversation_id
		WHERE c.consultant_id = $1 AND m.role = $2 AND m.created_at >= $3
		ORDER BY m.created_at DESC LIMIT $4`, consultantID, lobby.RoleConsultant, first, lobby.MaxActivityReplies)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var created, updated time.Time
		var status string
		if err := rows.Scan(&created, &updated, &status); err != nil {
			return nil, err
		}
		i := day(created)
		if i < 0 || i >= len(days) {
			continue
		}
		days[i].Messages++
		switch status {
		case lobby.MessageFailed:
			days[i].Failed++
		case lobby.MessageComplete:
			latencies[i] = append(latencies[i], max(0, updated.Sub(created).Milliseconds()))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, ls := range latencies {
		if len(ls) > 0 {
			slices.Sort(ls)
			days[i].LatencyP50MS, days[i].LatencyP95MS = percentile(ls, 50), percentile(ls, 95)
		}
	}

	// A subscription is held from its creation until it ends, past due or not.
	subs, err := s.db.read.QueryContext(ctx, `SELECT status, cancel_at_period_end, period_end, created_at FROM subscriptions
		WHERE consultant_id = $1 AND (status <> $2 OR period_end >= $3)`, consultantID, lobby.SubscriptionCanceled, first)
	if err != nil {
		return nil, err
	}
	defer subs.Close()
	for subs.Next() {
		var sub lobby.Subscription
		if err := subs.Scan(&sub.Status, &sub.CancelAtPeriodEnd, &sub.PeriodEnd, &sub.CreatedAt); err != nil {
			return nil, err
		}
		ends, ending := sub.EndsAt()
		for i := range days {
			end := days[i].Day.AddDate(0, 0, 1)
			if end.After(now) {
				end = now // today counts as of now
			}
			if !sub.CreatedAt.After(end) && (!ending || ends.After(end)) {
				days[i].Subscribers++
			}
		}
	}
	return days, subs.Err()
}

// activitySince is the first moment of the days reported at now.
func activitySince(now time.Time) time.Time {
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1-lobby.ActivityDays)
}

// CountMessages implements lobby.ActivityService.
func (s *ActivityService) CountMessages(ctx context.Context, ownerID string) (map[string]int64, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT c.consultant_id, count(*) FROM messages m
		JOIN conversations c ON c.id = m.conversation_id
		JOIN consultants k ON k.id = c.consultant_id
		WHERE k.owner_id = $1 AND m.role = $2 AND m.created_at >= $3
		GROUP BY c.consultant_id`, ownerID, lobby.RoleConsultant, activitySince(s.db.now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// percentile returns the p-th percentile of sorted by the nearest rank.
func percentile(sorted []int64, p int) *int64 {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n), 1-based
	v := sorted[max(rank, 1)-1]
	return &v
}
