"""A local e-conomic REST API: customers, draft orders and the agreement, in memory.

Behaves like restapi.e-conomic.com as described in shared/api/economic.md:
- every request needs `X-AppSecretToken` and `X-AgreementGrantToken` (401 otherwise); POST/PUT need
  `Content-Type: application/json` (415 otherwise);
- collections are paged (`pagesize` default 20, at most 1000, `skippages`), filterable (`filter=` with
  `$eq $ne $gt $gte $lt $lte $like $in $nin $null`, `$and:`/`$or:`, parentheses, `$`-escapes) and
  sortable (`sort=customerNumber`, `-name`, comma-separated); the last page has no `nextPage`;
- `PUT /customers/{n}` replaces the whole customer: a missing field is cleared, `null` is rejected,
  required `name, currency, customerGroup, paymentTerms, vatZone`, schema max lengths; `lastUpdated` bumps;
- `POST /orders/drafts` validates like the real service (E04730, E04740, E04500, unknown customer) and
  answers 201 with the draft, its `orderNumber` and `self`;
- `Idempotency-Key` on POST/PUT: a repeat within an hour replays the first answer with
  `X-ResultFromCache: true` and changes nothing.

Error bodies have the real shape (message, errorCode, developerHint, logId, httpStatusCode, logTime,
errorCount, errors). Real codes: E04300 (validation failed), E07140 (customer group not found), E04730,
E04740, E04500. The other codes (E001xx for property checks, E07150-E07210 for unknown references,
E003xx for bad query parameters, E00<status> for injected faults) are the sandbox's own,
stable but not e-conomic's.

The parts: `errors` (error bodies and the checks customers and drafts share), `agreement` (the
agreement and its reference lists), `filters` (the filter language and sorting), `customers`, `drafts`,
`state` (the store, listings, idempotency cache) and `app` (the HTTP endpoints).
"""
