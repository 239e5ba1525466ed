"""Pure scoring: a model version's definition + one customer's measures -> score, band and explanation.

No database here: the nightly recompute, the event-driven one, the validation backtest and the tests all score
through `score_customer`, so a score computed by hand from the explanation is the stored score.

Rules (the README explains them to users):
- Each component turns its input's value into 0-100 (`component_score`), rounded to one decimal.
- A component whose input is missing (None) is left out, and the weights of the others are renormalised:
  effective weight = weight / sum of the weights of the components present.
- score = sum(component score x effective weight), rounded half up to one decimal; contribution is each term.
- A component override replaces that component's score (its input is still shown); a whole-score override
  replaces the final score (the computed one is kept beside it). Overrides apply until their expiry day.
- Band: red below `red_below`, green at or above `green_from`, yellow between.
- No component present (every input missing, or all their weights zero): no score (None).
"""

from decimal import ROUND_HALF_UP, Decimal

from success.health.catalogue import INPUTS

ONE_DECIMAL = Decimal("0.1")


def round1(value) -> Decimal:
    return Decimal(str(value)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def validate_definition(definition: dict) -> dict[str, list[str]]:
    """Errors by field ("bands", "components", "components[2].thresholds", ...); empty when valid."""
    errors: dict[str, list[str]] = {}
    bands = definition.get("bands") or {}
    red, green = bands.get("red_below"), bands.get("green_from")
    for key, value in (("red_below", red), ("green_from", green)):
        if not isinstance(value, int) or not 0 <= value <= 100:
            errors.setdefault(key, []).append("A whole number from 0 to 100.")
    if "red_below" not in errors and "green_from" not in errors and red > green:
        errors.setdefault("green_from", []).append("Green must start at or above where red ends (red_below).")
    components = definition.get("components") or []
    if not components:
        errors.setdefault("components", []).append("A model needs at least one component.")
    total = Decimal("0")
    names = set()
    for index, component in enumerate(components):
        for field, messages in validate_component(component).items():
            errors.setdefault(f"components[{index}].{field}", []).extend(messages)
        name = (component.get("name") or "").strip()
        if name in names:
            errors.setdefault(f"components[{index}].name", []).append("Two components have this name.")
        names.add(name)
        if "weight" not in validate_component(component):
            total += Decimal(str(component.get("weight")))
    if components and total == 0:
        errors.setdefault("components", []).append("At least one component needs a weight above zero.")
    return errors


def validate_component(component: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (component.get("name") or "").strip():
        errors["name"] = ["A component needs a name."]
    if component.get("input") not in INPUTS:
        errors["input"] = [f"Unknown input; one of: {', '.join(INPUTS)}."]
    try:
        weight = Decimal(str(component.get("weight")))
        if not weight.is_finite() or weight < 0:
            errors["weight"] = ["A weight cannot be negative."]
    except (ArithmeticError, ValueError, TypeError):
        errors["weight"] = ["A number."]
    method = component.get("method")
    if method == "linear":
        worst, best = component.get("worst"), component.get("best")
        try:
            if worst is None or best is None:
                raise ValueError
            if Decimal(str(worst)) == Decimal(str(best)):
                errors["best"] = ["The best value must differ from the worst value."]
        except (ValueError, ArithmeticError):
            errors["worst"] = ["A linear range needs a worst and a best value (numbers)."]
    elif method == "thresholds":
        errors.update(_threshold_errors(component.get("thresholds")))
    else:
        errors["method"] = ["Either linear or thresholds."]
    if component.get("input") == "key_events_30d" and not key_event_names(component):
        errors["key_events"] = ["Name the key events (comma separated)."]
    return errors


def _threshold_errors(thresholds) -> dict[str, list[str]]:
    if not isinstance(thresholds, list) or len(thresholds) < 2:
        return {"thresholds": ["At least two thresholds: [[up_to, score], ..., [null, score]]."]}
    previous = None
    for index, pair in enumerate(thresholds):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            return {"thresholds": [f"Threshold {index + 1}: a pair [up_to, score]."]}
        up_to, score = pair
        last = index == len(thresholds) - 1
        if not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 100:
            return {"thresholds": [f"Threshold {index + 1}: the score must be from 0 to 100."]}
        if last:
            if up_to is not None:
                return {"thresholds": ["The last threshold has no upper bound (null): it scores every larger value."]}
            continue
        if not isinstance(up_to, int | float) or isinstance(up_to, bool):
            return {"thresholds": [f"Threshold {index + 1}: the upper bound must be a number."]}
        if previous is not None and up_to <= previous:
            return {"thresholds": ["Thresholds out of order: the upper bounds must go strictly up."]}
        previous = up_to
    return {}


def key_event_names(component: dict) -> list[str]:
    return sorted({name.strip() for name in (component.get("key_events") or "").split(",") if name.strip()})


def component_score(component: dict, value) -> Decimal:
    value = Decimal(str(value))
    if component["method"] == "linear":
        worst, best = Decimal(str(component["worst"])), Decimal(str(component["best"]))
        fraction = (value - worst) / (best - worst)
        return round1(min(max(fraction, Decimal("0")), Decimal("1")) * 100)
    for up_to, score in component["thresholds"]:
        if up_to is None or value <= Decimal(str(up_to)):
            return round1(score)
    raise AssertionError("the last threshold has no bound")  # pragma: no cover - validated


def band_for(score: Decimal, bands: dict) -> str:
    if score < bands["red_below"]:
        return "red"
    if score >= bands["green_from"]:
        return "green"
    return "yellow"


def input_value(component: dict, measures: dict, at_day) -> tuple[float | int | None, dict]:
    """The component's input value from the customer's measures (see success.health.inputs), and the inputs
    shown in the explanation. None: missing."""
    key = component["input"]
    m = measures
    if key in ("open_tickets", "urgent_open_tickets", "sla_breaches_30d", "sla_breaches_90d"):
        value = m.get(key) or 0
        return value, {key: value}
    if key == "nps_latest":
        score = m.get("nps_latest")
        if score is None:
            return None, {"nps_latest": None}
        band = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        return score, {"nps_latest": score, "band": band, "answered_at": m.get("nps_latest_at")}
    if key in ("csat_90d", "ces_90d"):
        mean, count = m.get(f"{key}_mean"), m.get(f"{key}_count") or 0
        if not count:
            return None, {"answers": 0}
        return round(mean, 2), {"mean": round(mean, 2), "answers": count}
    if key in ("active_users_30d", "active_users_change", "usage_change", "key_events_30d", "days_active_30d"):
        if not m.get("usage_ever"):
            return None, {"usage": "no product usage ever recorded"}
        if key == "days_active_30d":
            return m.get("days_active_30d") or 0, {"days_active_30d": m.get("days_active_30d") or 0}
        if key == "key_events_30d":
            counts = m.get("key_events_30d") or {}
            names = key_event_names(component)
            shown = {name: counts.get(name, 0) for name in names}
            return sum(shown.values()), shown
        if key == "active_users_30d":
            value = round((m.get("user_days_30d") or 0) / 30, 2)
            return value, {"mean_daily_active_users_30d": value}
        current_key, previous_key = (
            ("user_days_30d", "user_days_prev_30d")
            if key == "active_users_change"
            else ("events_30d", "events_prev_30d")
        )
        current, previous = m.get(current_key) or 0, m.get(previous_key) or 0
        change = _change_pct(current, previous)
        return change, {"last_30_days": current, "previous_30_days": previous, "change_pct": change}
    if key == "days_since_touch":
        last = m.get("last_touch_on")
        if last is not None:
            return (at_day - last).days, {"last_touch_on": last.isoformat(), "kind": m.get("last_touch_kind")}
        since = m.get("customer_since")
        return (at_day - since).days, {"last_touch_on": None, "counted_from": since.isoformat()}
    if key == "days_to_renewal":
        renewal = m.get("renewal_date")
        if renewal is None:
            return None, {"renewal_date": None}
        return (renewal - at_day).days, {"renewal_date": renewal.isoformat()}
    raise KeyError(key)  # pragma: no cover - validated


def _change_pct(current, previous) -> float:
    if previous == 0:
        return 100.0 if current > 0 else -100.0
    return round((current - previous) * 100 / previous, 1)


def score_customer(definition: dict, measures: dict, *, at_day, overrides: dict | None = None) -> dict | None:
    """{"score", "computed_score", "band", "components": [...], "override"} or None (nothing measurable).

    `overrides`: {component name or "": {"score", "reason", "expires_on", "by"}} active on `at_day`."""
    overrides = overrides or {}
    rows = []
    for component in definition["components"]:
        value, shown = input_value(component, measures, at_day)
        row = {
            "name": component["name"],
            "input": component["input"],
            "weight": float(Decimal(str(component["weight"]))),
            "inputs": shown,
            "value": value,
            "missing": value is None,
            "score": None,
            "effective_weight": 0.0,
            "contribution": 0.0,
            "overridden": None,
        }
        if value is not None:
            row["score"] = component_score(component, value)
        override = overrides.get(component["name"])
        if override is not None:
            computed = float(row["score"]) if row["score"] is not None else None
            row["overridden"] = {**override, "computed_score": computed}
            row["score"] = round1(override["score"])
            row["missing"] = False
        rows.append(row)
    present = [row for row in rows if row["score"] is not None and row["weight"] > 0]
    total = sum(Decimal(str(row["weight"])) for row in present)
    if not present or total == 0:
        return None
    raw = Decimal("0")
    for row in present:
        weight = Decimal(str(row["weight"]))
        term = row["score"] * weight / total
        raw += term
        row["effective_weight"] = round(float(weight / total), 4)
        row["contribution"] = round(float(term), 2)
    computed = round1(raw)
    for row in rows:
        row["score"] = float(row["score"]) if row["score"] is not None else None
    whole = overrides.get("")
    score = round1(whole["score"]) if whole is not None else computed
    return {
        "score": score,
        "computed_score": computed,
        "band": band_for(score, definition["bands"]),
        "components": rows,
        "override": whole,
    }
