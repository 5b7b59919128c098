package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// Inbox hands out a polling consultant's events, waiting up to wait for one to arrive;
// deliver.Inbox is one.
type Inbox interface {
	Lease(ctx context.Context, c *lobby.Consultant, limit int, wait time.Duration) ([]*lobby.Delivery, error)
}

// DefaultReplyRateLimit is replies a minute per consultant: room for an agent that
// streams its replies in many pieces to many buyers at once.
const DefaultReplyRateLimit = 3000

func (s *Server) handleReply(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	var in struct {
		ConversationID string `json:"conversation_id"`
		Content        string `json:"content"`
		InReplyTo      string `json:"in_reply_to"`
		Partial        bool   `json:"partial"`
	}
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.ConversationID == "" {
		return lobby.Errorf(lobby.EINVALID, "conversation_id is required: the data.conversation_id of the delivery you answer")
	}
	if ok, _, reset := s.replies.take(p.ConsultantID); !ok {
		return s.replies.refusal(reset)
	}
	res, err := s.Deliveries.CreateReply(r.Context(), lobby.ReplyParams{ConsultantID: p.ConsultantID, ConversationID: in.ConversationID,
		Content: in.Content, InReplyTo: in.InReplyTo, Partial: in.Partial})
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusCreated, map[string]any{"message": res.Message, "acknowledged": nonNilSlice(res.Acked)})
	return nil
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ownDelivery loads the delivery in the path, if it is the consultant's in the path and
// the request is from its owner or its key.
func (s *Server) ownDelivery(r *http.Request) (*lobby.Delivery, error) {
	c := pathConsultant(r)
	id := r.PathValue("id")
	d, err := s.Deliveries.FindDeliveryByID(r.Context(), id)
	if lobby.ErrorCode(err) == lobby.ENOTFOUND || err == nil && d.ConsultantID != c.ID {
		return nil, lobby.Errorf(lobby.ENOTFOUND, "no delivery %q of %s; list them at GET /api/v1/consultants/%s/deliveries", id, c.Slug, c.Slug)
	}
	return d, err
}

func (s *Server) handleDeliveryList(w http.ResponseWriter, r *http.Request) error {
	c := pathConsultant(r)
	limit, cursor, err := request.Page(r)
	if err != nil {
		return err
	}
	ds, next, err := s.Deliveries.FindDeliveries(r.Context(), lobby.DeliveryFilter{ConsultantID: c.ID, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	h, err := s.Deliveries.WebhookHealth(r.Context(), c.ID)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, struct {
		list[*lobby.Delivery]
		Health *lobby.WebhookHealth `json:"health"`
	}{newList(ds, next), h})
	return nil
}

func (s *Server) handleDeliveryGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.ownDelivery(r)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) handleDeliveryRetry(w http.ResponseWriter, r *http.Request) error {
	d, err := s.ownDelivery(r)
	if err != nil {
		return err
	}
	if d, err = s.Deliveries.RetryDelivery(r.Context(), d.ID); err != nil {
		return err
	}
	response.JSON(w, http.StatusAccepted, d)
	return nil
}

// webhookStatus is what the owner sees of the endpoint.
type webhookStatus struct {
	Mode                lobby.Mode           `json:"mode"`
	WebhookURL          string               `json:"webhook_url"`
	Enabled             bool                 `json:"enabled"`
	PreviousSecretUntil *time.Time           `json:"previous_secret_valid_until"`
	Health              *lobby.WebhookHealth `json:"health"`
}

func (s *Server) handleWebhookGet(w http.ResponseWriter, r *http.Request) error {
	c := pathConsultant(r)
	h, err := s.Deliveries.WebhookHealth(r.Context(), c.ID)
	if err != nil {
		return err
	}
	until := c.PreviousSecretUntil
	if until != nil && !until.After(s.Now()) {
		until = nil
	}
	response.JSON(w, http.StatusOK, webhookStatus{Mode: c.Mode, WebhookURL: c.WebhookURL, Enabled: c.Mode.Signs() && c.WebhookDisabledAt == nil,
		PreviousSecretUntil: until, Health: h})
	return nil
}

func (s *Server) handleWebhookSecretRotate(w http.ResponseWriter, r *http.Request) error {
	c := pathConsultant(r)
	overlap, err := overlapBody(w, r, lobby.DefaultSecretOverlap, lobby.MaxSecretOverlap, "7 days")
	if err != nil {
		return err
	}
	secret, c, err := s.Deliveries.RotateWebhookSecret(r.Context(), c.ID, overlap)
	if err != nil {
		return err
	}
	s.tellOwner(r, c, "its webhook signing secret was rotated")
	response.JSON(w, http.StatusOK, map[string]any{"webhook_secret": secret, "previous_secret_valid_until": c.PreviousSecretUntil})
	return nil
}

func (s *Server) handleInbox(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	limit, _, err := request.Page(r)
	if err != nil {
		return err
	}
	wait, err := request.Seconds(r, "wait", MaxPollWait)
	if err != nil {
		return err
	}
	if wait > 0 {
		release, err := s.holdStream(r)
		if err != nil {
			return err
		}
		defer release()
	}
	c, err := s.Consultants.FindConsultantForWork(r.Context(), p.ConsultantID)
	if err != nil {
		return err
	}
	if !c.Mode.HasInbox() {
		return lobby.Errorf(lobby.EINVALID, "%s is in %s mode, so its messages never reach the inbox; PATCH its mode to \"polling\" to use GET /api/v1/inbox", c.Slug, c.Mode)
	}
	ctx := r.Context()
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = s.followContext(r)
		defer cancel()
	}
	ds, err := s.Inbox.Lease(ctx, c, limit, time.Duration(wait)*time.Second)
	if err != nil {
		return err
	}
	events := make([]json.RawMessage, len(ds))
	for i, d := range ds {
		// The event is the webhook body with its ID in front: {"id": ..., "type": ...}.
		id, _ := json.Marshal(d.EventID)
		events[i] = json.RawMessage(`{"id":` + string(id) + `,` + strings.TrimPrefix(d.Payload, "{"))
	}
	response.JSON(w, http.StatusOK, map[string]any{"data": events})
	return nil
}

func (s *Server) handleInboxAck(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	id := r.PathValue("event_id")
	if !strings.HasPrefix(id, lobby.PrefixEvent) || len(id) > 64 {
		return lobby.Errorf(lobby.ENOTFOUND, "no event %q in this consultant's inbox; acknowledge the id of an event GET /api/v1/inbox gave", id)
	}
	d, err := s.Deliveries.AckDelivery(r.Context(), p.ConsultantID, id)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, map[string]any{"id": d.EventID, "status": d.Status, "delivered_at": d.DeliveredAt})
	return nil
}

// overlapBody reads a rotation's optional body {"overlap_seconds"}: how long the old
// secret or key goes on working, def when absent, from 0 to max (said as maxWords).
func overlapBody(w http.ResponseWriter, r *http.Request, def, max time.Duration, maxWords string) (time.Duration, error) {
	var in struct {
		OverlapSeconds *int `json:"overlap_seconds"`
	}
	if r.ContentLength != 0 {
		if err := request.DecodeJSON(w, r, &in); err != nil {
			return 0, err
		}
	}
	if in.OverlapSeconds == nil {
		return def, nil
	}
	// Compared before converting, so that a huge number cannot overflow into range.
	if *in.OverlapSeconds < 0 || *in.OverlapSeconds > int(max/time.Second) {
		return 0, lobby.Errorf(lobby.EINVALID, "overlap_seconds must be from 0 to %d (%s)", int(max.Seconds()), maxWords)
	}
	return time.Duration(*in.OverlapSeconds) * time.Second, nil
}
