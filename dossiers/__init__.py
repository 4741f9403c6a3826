"""Dossiers (hồ sơ) synced from the province's one-stop system, linked to payments, receipts and shipments.

ASSUMPTIONS (the one place they are marked; docs/dossiers.md says why):

1. The JSON of `PUT /api/v1/dossiers/<code>` and of the inbound webhook is the interface of issue 13, not
   a published protocol of a one-stop product: the provinces' systems (and the national portal's sync API)
   publish no public specification to follow. An adapter on the one-stop side maps its fields to it.
2. The inbound webhook is signed as our own outbound webhooks are (fees.webhooks: `X-HCC-Signature:
   t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`), with a per-centre secret from
   `hcc dossiers webhook-secret`, a window of HCC_ONESTOP_WEBHOOK_WINDOW seconds, and a signature seen
   before refused as a replay.
3. Statuses map to the one-stop stages (Decree 61/2018/NĐ-CP, replaced by Decree 118/2025/NĐ-CP) as:
   received = đã tiếp nhận, processing = đang giải quyết, result_ready = đã có kết quả, returned = đã trả
   kết quả, cancelled = dừng / trả lại hồ sơ. A push is the dossier as it stands: the last word wins.
4. `resolved_at` / `returned_at` are when the one-stop system says (optional fields), else when we first
   hear `result_ready` / `returned`; a result delivered by post is `returned` at the carrier's delivery time.
5. A centre has no level of its own in the model: its `DossierCentre.level`, else HCC_DOSSIER_DEFAULT_LEVEL.
6. Results by post go through `DossierCentre.carrier`/`service`, else the centre's only active carrier
   account with the carrier's default service, else HCC_POSTAL_DEFAULT_CARRIER; weight 500 g by default.
7. The reduced fee applies when the dossier record says `submission: online` (fees.payments.submission_of),
   to schedule lines only (a line priced outright by the caller is taken as given).
"""
