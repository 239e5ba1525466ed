"""Word lists and generators for realistic, varied demo data (`manage.py seed_demo`).

Pure Python over one `random.Random`, so a seed gives the same data every time and 100,000 customers are
generated in a couple of seconds. Every domain is under the reserved `.example` top-level domain (RFC 2606):
no demo email can ever reach a real person, whatever email backend is configured.
"""

import datetime
import random
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.utils import timezone

from crm.models import Contact, ContactRole, Customer, LifecycleStage, Note, Tier, TimelineEvent

DEMO_TLD = "example"

# --- Staff ------------------------------------------------------------------------------------------------
CSM_NAMES = [
    "Maya Lopez",
    "Daniel Okafor",
    "Priya Raman",
    "Lukas Becker",
    "Chloé Martin",
    "Sam Whitaker",
    "Aiko Tanaka",
    "Noah Fischer",
]
SUPPORT_AGENT_NAMES = ["Jordan Reyes", "Fatima Haddad", "Oliver Nguyen", "Sofia Rossi", "Ben Carter"]

# --- Companies --------------------------------------------------------------------------------------------
NAME_STEMS = """
Acorn Aether Alder Alpine Amber Anchor Apex Arbor Arctic Argent Aspen Atlas Aurora Avalon Azure Basalt Bay
Beacon Birch Blue Bold Bramble Brass Bright Brook Cairn Canyon Cardinal Cascade Cedar Celeste Chestnut Cinder
Clear Clover Cobalt Comet Copper Coral Crane Crest Crimson Crystal Cypress Dawn Delta Dune Eagle Echo Ember
Emerald Equinox Evergreen Falcon Fern Fable Firefly Fjord Flint Forge Fox Frontier Garnet Glacier Golden
Granite Graphite Grove Harbor Hawk Hazel Heron Helix Highland Horizon Indigo Iris Iron Ivory Jade Juniper
Kestrel Keystone Lagoon Lantern Larch Laurel Lark Lumen Lunar Lynx Magnet Maple Marble Marigold Meadow
Meridian Mesa Midnight Mint Monarch Moss Nimbus Noble North Nova Oak Oasis Obsidian Onyx Opal Orbit Orchid
Osprey Otter Pacific Palisade Pebble Pepper Pine Pioneer Polar Prairie Prism Quarry Quartz Quill Radiant
Raven Redwood Reef Ridge River Rowan Ruby Saffron Sage Sapphire Sequoia Shore Sierra Silver Slate Solar
Solstice Sparrow Spruce Starling Sterling Stone Summit Sun Swift Tamarack Terra Thistle Tidal Timber Topaz
Trail True Tundra Umber Valley Vantage Velvet Verdant Vertex Violet Vista Wave West Willow Wren Zenith Zephyr
""".split()
NAME_ROOTS = """
bridge brook crest field forge gate grove haven hill lake light line mark mont peak point port ridge rock
shore side stone vale view wave well wood works
""".split()
INDUSTRIES = """
Analytics Logistics Health Foods Robotics Energy Financial Labs Systems Software Media Manufacturing Biotech
Insurance Retail Learning Travel Security Networks Cloud Payments Studios Consulting Partners Dynamics Telecom
Pharma Hospitality Construction Legal Marketing Capital Motors Apparel Outdoors Games Solar Water Agritech
Realty Aerospace Diagnostics Freight Clinics Data Devices Materials Brewing Fitness
""".split()
LAST_NAMES = """
Abbott Adams Agarwal Ahmed Alvarez Andersen Bailey Baker Banerjee Barnes Becker Bell Bennett Bianchi Brooks
Brown Bryant Campbell Carter Castillo Chen Clark Cohen Collins Cooper Costa Cruz Das Davies Diaz Dubois
Edwards Evans Ferreira Fischer Flores Foster Garcia Gomez Gonzalez Gray Green Gupta Hale Hall Hansen Harris
Hayes Hernandez Hill Hoffmann Hughes Ibrahim Ito Jackson Jansen Jensen Johnson Jones Kapoor Kato Kelly Khan
Kim King Klein Kowalski Kumar Larsen Laurent Lee Lewis Lim Lindqvist Lopez Martin Martinez Meyer Miller
Mitchell Moore Morales Moreau Moreno Murphy Nakamura Nelson Nguyen Nielsen Novak Okafor O'Brien Olsen Ortiz
Park Patel Perez Peters Petrov Phillips Price Ramirez Reddy Reed Reyes Richter Rivera Roberts Robinson Rossi
Russo Sanchez Santos Sato Schmidt Schneider Scott Shah Silva Singh Smith Sorensen Stewart Suzuki Tanaka
Taylor Thomas Thompson Torres Turner Walker Wang Ward Watson Weber White Williams Wilson Wong Wright Yamamoto
Young Zhang Zimmermann
""".split()
FIRST_NAMES = """
Aaron Abigail Adam Adriana Aisha Akira Alan Alex Alice Amara Amelia Ana Andre Andrea Anika Anna Arjun Ava
Ben Bianca Carlos Carmen Charlotte Chen Chloe Chris Clara Daniel David Diego Elena Eli Elif Emma Ethan Eva
Fatima Felix Finn Freya Gabriel Grace Hana Hannah Hassan Ian Imani Isaac Isabel Ivan Jack Jade James Jana
Javier Jin Joao Jonas Jordan Julia Kai Karen Kenji Kiran Laila Lars Laura Leo Lena Liam Lina Lucas Lucia
Luis Maria Mark Marta Mateo Maya Mei Mia Michael Mohammed Nadia Naomi Nina Noah Nora Olivia Omar Oscar Paul
Pedro Priya Rafael Rahul Rania Rebecca Ricardo Rosa Ryan Sami Sara Sean Sofia Sophie Stefan Tariq Thomas
Tom Valentina Victor Wei Yara Yusuf Zara Zoe
""".split()

# (time zone, weight, legal suffixes, phone country code): a customer's region shapes its name and phone.
REGIONS = [
    ("America/New_York", 16, ["Inc.", "LLC", "Corp."], "+1"),
    ("America/Chicago", 8, ["Inc.", "LLC", "Co."], "+1"),
    ("America/Denver", 3, ["Inc.", "LLC"], "+1"),
    ("America/Los_Angeles", 12, ["Inc.", "LLC", "Corp."], "+1"),
    ("America/Toronto", 4, ["Inc.", "Ltd."], "+1"),
    ("America/Sao_Paulo", 3, ["Ltda.", "S.A."], "+55"),
    ("America/Mexico_City", 2, ["S.A. de C.V."], "+52"),
    ("Europe/London", 10, ["Ltd", "PLC"], "+44"),
    ("Europe/Dublin", 2, ["Ltd", "DAC"], "+353"),
    ("Europe/Paris", 6, ["SAS", "S.A."], "+33"),
    ("Europe/Berlin", 7, ["GmbH", "AG"], "+49"),
    ("Europe/Amsterdam", 3, ["B.V.", "N.V."], "+31"),
    ("Europe/Madrid", 2, ["S.L.", "S.A."], "+34"),
    ("Europe/Stockholm", 2, ["AB"], "+46"),
    ("Europe/Warsaw", 1, ["Sp. z o.o."], "+48"),
    ("Asia/Kolkata", 4, ["Pvt. Ltd."], "+91"),
    ("Asia/Singapore", 3, ["Pte. Ltd."], "+65"),
    ("Asia/Tokyo", 3, ["K.K."], "+81"),
    ("Asia/Dubai", 1, ["FZ-LLC"], "+971"),
    ("Australia/Sydney", 4, ["Pty Ltd"], "+61"),
    ("Pacific/Auckland", 1, ["Ltd"], "+64"),
    ("Africa/Johannesburg", 1, ["(Pty) Ltd"], "+27"),
]
_REGION_WEIGHTS = [r[1] for r in REGIONS]

# Weighted tiers (few enterprise, many SMB) and the ARR band of each.
TIER_WEIGHTS = [(Tier.ENTERPRISE, 6), (Tier.MID_MARKET, 24), (Tier.SMB, 70)]
ARR_RANGE = {
    Tier.ENTERPRISE: (150_000, 1_500_000),
    Tier.MID_MARKET: (30_000, 149_900),
    Tier.SMB: (2_400, 29_900),
}
STAGE_WEIGHTS = [
    (LifecycleStage.ONBOARDING, 14),
    (LifecycleStage.ADOPTING, 24),
    (LifecycleStage.MATURE, 42),
    (LifecycleStage.AT_RISK, 12),
    (LifecycleStage.CHURNED, 8),
]
# Share of customers (by tier) without an assigned CSM: the pooled "tech touch" book.
UNOWNED_SHARE = {Tier.ENTERPRISE: 0.0, Tier.MID_MARKET: 0.03, Tier.SMB: 0.25}
# The primary contact is the champion or the decision maker; the others are drawn from these (weighted).
PRIMARY_ROLES = [ContactRole.CHAMPION, ContactRole.CHAMPION, ContactRole.DECISION_MAKER]
OTHER_ROLES = [
    ContactRole.DECISION_MAKER,
    ContactRole.BILLING,
    ContactRole.BILLING,
    ContactRole.END_USER,
    ContactRole.END_USER,
    ContactRole.END_USER,
    ContactRole.CHAMPION,
    ContactRole.OTHER,
]
CONTACT_TIMEZONE_OVERRIDE_SHARE = 0.08  # a contact working from another time zone than the account

NOTE_TEMPLATES = [
    "Kickoff call with {first}: goals are {goal} and {goal2}.",
    "QBR prep: usage up {pct}% quarter over quarter; {first} wants to expand to another team.",
    "{first} asked about SSO and the audit log add-on. Sent the security whitepaper.",
    "Renewal conversation started with {first} {last}; budget confirmed for next year.",
    "Champion {first} {last} is changing roles. Need a new executive sponsor before renewal.",
    "Onboarding blocked on the data import step; {first} is waiting on their IT team.",
    "Low logins for {weeks} weeks. Offered a training session for the end users.",
    "{first} flagged slow exports in the reporting module; ticket escalated to support.",
    "Great feedback from {first}: the new dashboard saves the team about {hours} hours a week.",
    "Procurement wants a 3-year deal with a {pct}% discount. Looping in finance.",
    "Check-in call: {first} is happy overall, wants better Slack notifications.",
    "Price increase discussed; {first} pushed back, will revisit at the QBR.",
]
GOALS = [
    "faster onboarding of new hires",
    "one view of every customer",
    "fewer escalations",
    "a weekly executive report",
    "cutting churn in the SMB segment",
    "automating renewals",
    "replacing spreadsheets",
    "better forecasting",
]


@dataclass(slots=True)
class CustomerSpec:
    name: str
    domain: str
    lifecycle_stage: str
    tier: str
    arr: Decimal
    contract_start: datetime.date
    renewal_date: datetime.date
    timezone: str
    created_at: datetime.datetime
    region_code: str
    owner_index: int | None = None  # index into the CSMs; None: the pooled (unowned) book
    contacts: list["ContactSpec"] = dataclass_field(default_factory=list)
    notes: list["NoteSpec"] = dataclass_field(default_factory=list)


@dataclass(slots=True)
class NoteSpec:
    body: str
    created_at: datetime.datetime
    author_index: int | None


@dataclass(slots=True)
class ContactSpec:
    email: str
    first_name: str
    last_name: str
    role: str
    is_primary: bool
    phone: str
    timezone: str


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


class DemoDataGenerator:
    """Draws customers, contacts and notes from one seeded random generator.

    Names and domains are unique within one generator (one run); `today` and `now` anchor every date.
    """

    def __init__(self, *, seed: int, now: datetime.datetime):
        self.rng = random.Random(seed)
        self.now = now
        self.today = now.date()
        self._names: set[str] = set()
        self._domains: set[str] = set()
        self._tiers, tier_weights = zip(*TIER_WEIGHTS, strict=True)
        self._tier_cum = self._cumulative(tier_weights)
        self._stages, stage_weights = zip(*STAGE_WEIGHTS, strict=True)
        self._stage_cum = self._cumulative(stage_weights)
        self._region_cum = self._cumulative(_REGION_WEIGHTS)

    @staticmethod
    def _cumulative(weights) -> list[float]:
        total, out = 0, []
        for w in weights:
            total += w
            out.append(total)
        return out

    def _pick(self, population, cum_weights):
        return self.rng.choices(population, cum_weights=cum_weights, k=1)[0]

    # --- Companies ------------------------------------------------------------------------------------
    def _company_base(self) -> str:
        rng = self.rng
        shape = rng.random()
        if shape < 0.45:
            return rng.choice(NAME_STEMS) + rng.choice(NAME_ROOTS)  # "Cedarbridge"
        if shape < 0.85:
            return rng.choice(NAME_STEMS)  # "Cobalt"
        a, b = rng.sample(LAST_NAMES, 2)
        return f"{a} & {b}"  # "Hale & Moreno"

    def _company_name(self, legal_suffixes: list[str]) -> tuple[str, str, str]:
        rng = self.rng
        for _ in range(30):
            base = self._company_base()
            industry = rng.choice(INDUSTRIES)
            name = f"{base} {industry}"
            if rng.random() < 0.35:
                name = f"{name} {rng.choice(legal_suffixes)}"
            if name not in self._names:
                break
        else:  # the word space is nearly used up: disambiguate with a number
            name = f"{name} {len(self._names) + 1}"
        self._names.add(name)
        return name, base, industry

    def _domain(self, base: str, industry: str) -> str:
        base, industry = _slug(base), _slug(industry)
        for candidate in (base, f"{base}{industry}", f"{base}-{industry}"):
            domain = f"{candidate}.{DEMO_TLD}"
            if domain not in self._domains:
                break
        else:
            domain = f"{base}-{industry}-{len(self._domains) + 1}.{DEMO_TLD}"
        self._domains.add(domain)
        return domain

    def customer(self) -> CustomerSpec:
        rng = self.rng
        tz, _w, legal, phone_code = self._pick(REGIONS, self._region_cum)
        name, base, industry = self._company_name(legal)
        tier = self._pick(self._tiers, self._tier_cum)
        stage = self._pick(self._stages, self._stage_cum)
        low, high = ARR_RANGE[tier]
        arr = Decimal(rng.randrange(low // 100, high // 100 + 1) * 100)
        if stage == LifecycleStage.ONBOARDING:
            # Signed in the last six weeks; first renewal a year after the start.
            contract_start = self.today - datetime.timedelta(days=rng.randint(0, 45))
            renewal_date = _add_years(contract_start, 1)
        elif stage == LifecycleStage.CHURNED:
            # Did not renew in the last six months.
            renewal_date = self.today - datetime.timedelta(days=rng.randint(1, 180))
            contract_start = _add_years(renewal_date, -rng.randint(1, 3))
        else:
            # Renewals spread across the coming year; 1- to 3-year terms.
            renewal_date = self.today + datetime.timedelta(days=rng.randint(1, 365))
            contract_start = _add_years(renewal_date, -rng.randint(1, 3))
        created_at = datetime.datetime.combine(
            contract_start, datetime.time(rng.randint(8, 17), rng.randint(0, 59)), tzinfo=datetime.UTC
        )
        created_at = min(created_at, self.now)
        return CustomerSpec(
            name=name,
            domain=self._domain(base, industry),
            lifecycle_stage=stage,
            tier=tier,
            arr=arr,
            contract_start=contract_start,
            renewal_date=renewal_date,
            timezone=tz,
            created_at=created_at,
            region_code=phone_code,
        )

    def account(self, *, n_owners: int, n_contacts: int) -> CustomerSpec:
        """One customer with its owner, contacts and notes. Drawn in this fixed order, customer after
        customer, so the batch size does not change the data a seed gives."""
        spec = self.customer()
        rng = self.rng
        if n_owners and rng.random() >= UNOWNED_SHARE[spec.tier]:
            spec.owner_index = rng.randrange(n_owners)
        spec.contacts = self.contacts(spec, n_contacts)
        for _ in range(self.note_count()):
            body, created_at = self.note(rng.choice(spec.contacts), spec.created_at)
            author = spec.owner_index
            if author is None and n_owners:
                author = rng.randrange(n_owners)
            spec.notes.append(NoteSpec(body=body, created_at=created_at, author_index=author))
        return spec

    # --- Contacts -------------------------------------------------------------------------------------
    def _phone(self, code: str) -> str:
        rng = self.rng
        if code == "+1":
            return f"+1 {rng.randint(201, 989)}-555-01{rng.randint(0, 99):02d}"  # 555-01xx: fictional
        return f"{code} {rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"

    def contacts(self, customer: CustomerSpec, count: int) -> list[ContactSpec]:
        rng = self.rng
        out: list[ContactSpec] = []
        used: set[str] = set()
        for i in range(count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local_first, local_last = _slug(first), _slug(last)
            pattern = rng.random()
            if pattern < 0.6:
                local = f"{local_first}.{local_last}"
            elif pattern < 0.85:
                local = f"{local_first[0]}{local_last}"
            else:
                local = local_first
            email = f"{local}@{customer.domain}"
            n = 2
            while email in used:
                email = f"{local}{n}@{customer.domain}"
                n += 1
            used.add(email)
            role = rng.choice(PRIMARY_ROLES if i == 0 else OTHER_ROLES)
            contact_tz = ""
            if rng.random() < CONTACT_TIMEZONE_OVERRIDE_SHARE:
                contact_tz = self._pick(REGIONS, self._region_cum)[0]
            out.append(
                ContactSpec(
                    email=email,
                    first_name=first,
                    last_name=last,
                    role=role,
                    is_primary=i == 0,
                    phone=self._phone(customer.region_code) if rng.random() < 0.7 else "",
                    timezone=contact_tz,
                )
            )
        return out

    # --- Notes ----------------------------------------------------------------------------------------
    def note_count(self) -> int:
        r = self.rng.random()
        return 0 if r < 0.6 else 1 if r < 0.85 else 2 if r < 0.95 else 3

    def note(self, contact: ContactSpec, created_at: datetime.datetime) -> tuple[str, datetime.datetime]:
        rng = self.rng
        body = rng.choice(NOTE_TEMPLATES).format(
            first=contact.first_name,
            last=contact.last_name,
            goal=rng.choice(GOALS),
            goal2=rng.choice(GOALS),
            pct=rng.randint(5, 40),
            weeks=rng.randint(2, 6),
            hours=rng.randint(2, 12),
        )
        # Some time between the customer's creation and now, most of them in the last quarter.
        span = (self.now - created_at).total_seconds()
        offset = min(span, rng.expovariate(1 / (45 * 86400)))
        return body, self.now - datetime.timedelta(seconds=offset)


def _add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- Seeding ---------------------------------------------------------------------------------------------
EXTERNAL_ID_PREFIX = "CUS-"


@dataclass(slots=True)
class SeedResult:
    customers: int = 0
    contacts: int = 0
    notes: int = 0
    timeline_events: int = 0
    csms: int = 0
    support_agents: int = 0
    seconds: float = 0.0


@contextmanager
def _explicit_created_at(*models):
    """Let bulk_create keep the `created_at` we set (back-dated demo history) instead of auto_now_add."""
    fields = [model._meta.get_field("created_at") for model in models]
    saved = [field.auto_now_add for field in fields]
    try:
        for field in fields:
            field.auto_now_add = False
        yield
    finally:
        for field, value in zip(fields, saved, strict=True):
            field.auto_now_add = value


def _staff_email(full_name: str) -> str:
    first, last = full_name.split(" ", 1)
    return f"{_slug(first)}.{_slug(last)}@{_slug(settings.COMPANY_NAME) or 'company'}.{DEMO_TLD}"


def demo_staff() -> tuple[list, list]:
    """The demo CSMs (group csm) and support agents (group support_agent); reused when they exist.
    They get no usable password: an admin sets one in the admin to log in as them."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user_model = get_user_model()
    teams = []
    for role, names in (("csm", CSM_NAMES), ("support_agent", SUPPORT_AGENT_NAMES)):
        group, _ = Group.objects.get_or_create(name=role)
        members = []
        for full_name in names:
            email = _staff_email(full_name)
            user = user_model.objects.filter(email__iexact=email).first()
            if user is None:
                user = user_model.objects.create_user(email=email, password=None, full_name=full_name)
            user.groups.add(group)
            members.append(user)
        teams.append(members)
    return teams[0], teams[1]


def _next_external_number() -> int:
    last = (
        Customer.objects.filter(external_id__regex=rf"^{EXTERNAL_ID_PREFIX}[0-9]{{7}}$")
        .order_by("-external_id")
        .values_list("external_id", flat=True)
        .first()
    )
    return int(last.removeprefix(EXTERNAL_ID_PREFIX)) + 1 if last else 1


def demo_seed(
    *,
    customers: int,
    contacts_per_customer: int = 3,
    seed: int,
    batch_size: int = 5000,
    now: datetime.datetime | None = None,
) -> SeedResult:
    """Bulk-insert realistic demo customers with contacts, notes and timeline events, in one transaction.

    Scale path: rows go in as bulk inserts (COPY on PostgreSQL, bulk_create elsewhere) in batches, so the
    per-row services, and with them django-simple-history rows and validation, are bypassed on purpose; the
    generator only produces valid rows (unique external ids, unique contact emails per customer, exactly one
    primary contact).
    """
    if not connection.features.can_return_rows_from_bulk_insert:
        raise NotImplementedError("seed_demo needs a database that returns ids from bulk inserts.")
    started = time.perf_counter()
    now = now or timezone.now()
    gen = DemoDataGenerator(seed=seed, now=now)
    result = SeedResult()
    customer_type = ContentType.objects.get_for_model(Customer)
    note_type = ContentType.objects.get_for_model(Note)
    with transaction.atomic(), _explicit_created_at(Customer, Note, Contact):
        csms, agents = demo_staff()
        result.csms, result.support_agents = len(csms), len(agents)
        csm_ids = [user.pk for user in csms]
        number = _next_external_number()
        for chunk_start in range(0, customers, batch_size):
            chunk = min(batch_size, customers - chunk_start)
            specs = [gen.account(n_owners=len(csm_ids), n_contacts=contacts_per_customer) for _ in range(chunk)]
            rows = []
            for spec in specs:
                rows.append(
                    Customer(
                        name=spec.name,
                        domain=spec.domain,
                        external_id=f"{EXTERNAL_ID_PREFIX}{number:07d}",
                        lifecycle_stage=spec.lifecycle_stage,
                        tier=spec.tier,
                        owner_id=None if spec.owner_index is None else csm_ids[spec.owner_index],
                        arr=spec.arr,
                        contract_start=spec.contract_start,
                        renewal_date=spec.renewal_date,
                        timezone=spec.timezone,
                        created_at=spec.created_at,
                    )
                )
                number += 1
            _bulk_insert(Customer, rows, batch_size)

            contacts, notes, events = [], [], []
            for spec, customer in zip(specs, rows, strict=True):
                contacts.extend(
                    Contact(customer_id=customer.pk, created_at=spec.created_at, **_contact_fields(person))
                    for person in spec.contacts
                )
                events.append(
                    TimelineEvent(
                        customer_id=customer.pk,
                        kind="customer.created",
                        occurred_at=spec.created_at,
                        summary=f"Customer {customer.name} created"[:300],
                        source_type=customer_type,
                        source_id=str(customer.pk),
                        payload={"via": "seed_demo"},
                    )
                )
                notes.extend(
                    Note(
                        customer_id=customer.pk,
                        author_id=None if note.author_index is None else csm_ids[note.author_index],
                        body=note.body,
                        created_at=note.created_at,
                    )
                    for note in spec.notes
                )
            _bulk_insert(Contact, contacts, batch_size)
            _bulk_insert(Note, notes, batch_size)
            events.extend(
                TimelineEvent(
                    customer_id=note.customer_id,
                    kind="note.added",
                    occurred_at=note.created_at,
                    actor_id=note.author_id,
                    summary=note.body.splitlines()[0][:200],
                    source_type=note_type,
                    source_id=str(note.pk),
                    payload={"note_id": note.pk},
                )
                for note in notes
            )
            _bulk_insert(TimelineEvent, events, batch_size)
            result.customers += len(rows)
            result.contacts += len(contacts)
            result.notes += len(notes)
            result.timeline_events += len(events)
    if connection.vendor == "postgresql":
        # Fresh planner statistics, so the first queries on the new rows use the indexes.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE crm_customer, crm_contact, crm_note, crm_timelineevent")
    result.seconds = time.perf_counter() - started
    return result


_NATIVE_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.DateField,
    models.DecimalField,
    models.ForeignKey,
)


def _bulk_insert(model: type[models.Model], rows: list[models.Model], batch_size: int) -> None:
    """bulk_create, or on PostgreSQL the same rows through COPY (about twice as fast end to end).

    Rows are still model instances, so defaults of new columns apply; primary keys are drawn from the table's
    sequence first, exactly as bulk_create would set them.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(rows, batch_size)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    fields = list(meta.concrete_fields)
    getters = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            getters.append(lambda obj, f=field: f.pre_save(obj, add=True))
        elif isinstance(field, _NATIVE_FIELDS):  # psycopg adapts these Python values itself
            getters.append(lambda obj, a=field.attname: getattr(obj, a))
        else:
            getters.append(lambda obj, f=field: f.get_db_prep_save(f.pre_save(obj, add=True), connection))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        for obj, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding, obj._state.db = False, connection.alias
        columns = ", ".join(quote(field.column) for field in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in rows:
                copy.write_row([get(obj) for get in getters])


def _contact_fields(person: ContactSpec) -> dict:
    return {
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "role": person.role,
        "is_primary": person.is_primary,
        "phone": person.phone,
        "timezone": person.timezone,
    }
