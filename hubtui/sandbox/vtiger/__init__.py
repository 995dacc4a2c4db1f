"""A local vTiger that answers like vTiger Cloud's REST API and the self-hosted webservice.php.

Both flavours share one in-memory store (`VtigerState`) and one set of operations:

- REST under `/restapi/v1/vtiger/default/<operation>`: HTTP Basic (username + access key), no session.
  200 on success, 400 on failure (401 for bad credentials, 404 for an unknown operation), 429 when the
  flood-control window is used up. Every REST response carries the `X-FloodControl-*` / `X-RateLimit-*`
  headers. Writes are form posts with the record as a JSON string in `element`.
- `/webservice.php`: `getchallenge` then `login` with `accessKey = md5(token + access key)`, then
  `sessionName` on every call. Reads are GET-only, writes POST-only. Always HTTP 200; the error is in the
  envelope (`INVALID_SESSIONID` once sessions are expired or left idle).

Behaviour a connector must cope with, as in the real service:
- queries return at most 100 rows (no `limit` means `limit 100`, bigger limits are cut to 100), and the
  statement must end with `;`; `=`/`like` compare case-insensitively (MySQL collation);
- `update` replaces the record: omitted editable fields are blanked, `accountname` and
  `assigned_user_id` must be present; `revise` is the partial update;
- unknown fields in a write (e.g. `mobile` on Accounts) are silently ignored;
- some stored text is HTML-encoded (`&amp;`, `&quot;`) and is returned that way; `where` matches either
  the stored or the decoded text;
- every write sets `modifiedtime` (`YYYY-MM-DD HH:MM:SS`, UTC); all values are strings.

The parts: `protocol` (paths, envelope, errors), `auth` (credentials, sessions, Basic auth), `modules`
(the modules' fields and describe), `query` (the VTQL parser), `state` (records, sessions, flood control,
reads and writes), `operations` (the API's operations by name) and `app` (the HTTP endpoints).
"""
