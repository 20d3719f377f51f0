"""Schemathesis hooks for scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS)."""

import schemathesis

# X-Sandbox-Scenario values that make the sandbox fail or stall on purpose, dropped from requests:
#   server_error -> a deliberate, documented 500 (not_a_server_error would flag the simulation);
#   unavailable  -> a deliberate, documented 503 (same);
#   timeout      -> waits ~10 s then 504; slow -> delays the answer (both blow the time budget).
# rate_limited (429, documented, not a server error) stays.
_DROPPED_SCENARIOS = {"server_error", "unavailable", "timeout", "slow"}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers
    if headers:
        for name in list(headers):
            if name.lower() == "x-sandbox-scenario" and headers[name] in _DROPPED_SCENARIOS:
                del headers[name]


@schemathesis.hook("before_call")
def drop_starting_after_in_positive_cases(ctx, case, **kwargs):
    # `starting_after` must name an object of the list (else 400 "no object with this id in the
    # list"); the schema can only say "a non-empty string", so a positive (schema-valid) case with
    # a random id is refused by design. Positive cases go without it; negative cases keep it.
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    if case.query and "starting_after" in case.query and str(getattr(mode, "value", mode)) == "positive":
        del case.query["starting_after"]


@schemathesis.hook("before_call")
def few_named_sandboxes_in_positive_cases(ctx, case, **kwargs):
    # Every new Keygate-Sandbox name makes a named sandbox, and an account holds at most 50
    # (then 409, documented). Positive cases would fill that in a few operations and then see
    # only 409s, so they use four names (chosen by the generated one); negative cases keep their
    # malformed names, which must be 400.
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    if str(getattr(mode, "value", mode)) != "positive" or not case.headers:
        return
    for name in list(case.headers):
        if name.lower() == "keygate-sandbox":
            case.headers[name] = "st-%d" % (len(str(case.headers[name])) % 4)
