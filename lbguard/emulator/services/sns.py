"""SNS: the alarm topic and its subscriptions."""

from __future__ import annotations




from lbguard.emulator.core import (_auto_name, _drop_none,
                                   _tags_list, handles)

@handles("aws:sns/topic:Topic")
def _topic(em, args, i):
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 256)
    attrs = _drop_none({"KmsMasterKeyId": i.get("kmsMasterKeyId"), "DisplayName": i.get("displayName")})
    arn = em.client("sns").create_topic(Name=name, Attributes=attrs, Tags=_tags_list(i.get("tags")))["TopicArn"]
    return arn, {"id": arn, "arn": arn, "name": name}


@handles("aws:sns/topicSubscription:TopicSubscription")
def _subscription(em, args, i):
    arn = em.client("sns").subscribe(TopicArn=i["topic"], Protocol=i["protocol"], Endpoint=i["endpoint"],
                                     ReturnSubscriptionArn=True)["SubscriptionArn"]
    return arn, {"id": arn, "arn": arn}


