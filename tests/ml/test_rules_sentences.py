from leadscore.ml.rules import Rule


def test_a_value_the_format_cannot_take_is_shown_as_is():
    rule = Rule(name="timeline", field="timeline_months", op="<=", points=5,
                reason="Plans to buy within {value:.0f} months")
    assert rule.sentence(3) == "Plans to buy within 3 months"
    # Scoring a CSV file hands the rule the text "3": it must not crash the whole file.
    assert rule.sentence("3") == "Plans to buy within 3 months"
