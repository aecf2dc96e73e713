namespace MLNetTuning;

/// <summary>The entity-level metrics of one entity type, an entry of <see cref="EntityMetrics.PerEntityType"/>.</summary>
public sealed class EntityTypeMetrics
{
    internal EntityTypeMetrics(double precision, double recall, double f1, int support)
        => (Precision, Recall, F1, Support) = (precision, recall, f1, support);

    /// <summary>Correct predicted entities of this type over the predicted entities of this type; 0 when none was predicted.</summary>
    public double Precision { get; }

    /// <summary>Correct predicted entities of this type over the labelled entities of this type; 0 when the labels hold none.</summary>
    public double Recall { get; }

    /// <summary>The harmonic mean of <see cref="Precision"/> and <see cref="Recall"/>; 0 when both are 0.</summary>
    public double F1 { get; }

    /// <summary>The number of entities of this type in the labels.</summary>
    public int Support { get; }

    /// <inheritdoc/>
    public override string ToString() => $"Precision {Precision:0.####}  Recall {Recall:0.####}  F1 {F1:0.####}  Support {Support}";
}
