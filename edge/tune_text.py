"""Natural text the tuner scores quality on: ordinary prose of several registers, about 250 tokens.

A short probe sentence lets a lossy configuration pass by luck; next-token agreement over a
longer run of everyday English (a story, a recipe, a letter) does not.
"""

NATURAL_TEXT = (
    "When Maria moved to the coast, she rented a small flat above a bakery. Every morning the smell of "
    "fresh bread came up through the floor, and she soon learned the baker's routine: the ovens were lit "
    "at four, the first loaves came out at half past five, and by seven there was a queue outside the door. "
    "She worked from home as a translator, so she could hear the bell ring each time a customer came in.\n\n"
    "To make a simple tomato sauce, warm two spoons of olive oil in a pan over a low heat. Add a chopped "
    "onion and a pinch of salt, and cook it slowly until it is soft but not brown. Stir in two cloves of "
    "garlic, then a tin of tomatoes, and let the sauce simmer for twenty minutes. Taste it before serving "
    "and add a little sugar if it is too sharp.\n\n"
    "Dear Mr Patel, thank you for your letter of the third of March. I am sorry to hear that the parcel "
    "arrived damaged. We have sent a replacement by the same service, and it should reach you within five "
    "working days. Please keep the original box until the new one arrives, in case the courier needs to "
    "inspect it. If you have any other questions, do not hesitate to contact us."
)
