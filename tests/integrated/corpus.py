"""A small hand-made corpus on distinct topics: three records about historical structures and
monuments, two about cooking, two about space, one each about other topics."""

from __future__ import annotations

MONUMENTS = ("rec1", "rec2", "rec3")

RECORDS = [
    {"_id": "rec1", "chunk_text": "The Great Wall of China is an ancient series of stone fortifications built "
     "over many centuries to protect the empire's northern border.", "category": "history"},
    {"_id": "rec2", "chunk_text": "The Colosseum in Rome is a huge ancient amphitheatre where gladiators fought; "
     "it remains one of the most famous monuments of the Roman Empire.", "category": "history"},
    {"_id": "rec3", "chunk_text": "The pyramids of Giza are monumental tombs built for Egyptian pharaohs more "
     "than four thousand years ago.", "category": "history"},
    {"_id": "rec4", "chunk_text": "To bake sourdough bread, feed the starter, mix flour and water, and let the "
     "dough rise overnight before baking in a hot oven.", "category": "cooking"},
    {"_id": "rec5", "chunk_text": "A good tomato sauce simmers garlic, olive oil and ripe tomatoes slowly for an "
     "hour.", "category": "cooking"},
    {"_id": "rec6", "chunk_text": "The James Webb Space Telescope observes distant galaxies in infrared light.",
     "category": "space"},
    {"_id": "rec7", "chunk_text": "Mars is the fourth planet from the Sun and has the tallest volcano in the solar "
     "system, Olympus Mons.", "category": "space"},
    {"_id": "rec8", "chunk_text": "Regular exercise such as running or swimming strengthens the heart and lowers "
     "blood pressure.", "category": "health"},
    {"_id": "rec9", "chunk_text": "Python is a popular programming language known for its readable syntax and "
     "large standard library.", "category": "technology"},
    {"_id": "rec10", "chunk_text": "Interest rates set by central banks influence inflation, mortgages and the "
     "stock market.", "category": "finance"},
    {"_id": "rec11", "chunk_text": "Honeybees pollinate flowers and live in colonies ruled by a single queen.",
     "category": "nature"},
    {"_id": "rec12", "chunk_text": "The violin is a string instrument played with a bow, central to the classical "
     "orchestra.", "category": "music"},
]
